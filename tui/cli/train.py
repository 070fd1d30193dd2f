"""`minigpt train`: a new or a resumed run, with a progress bar; a stop signal saves first."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from core import (
    BPE_SAMPLE_CHARS,
    RankInfo,
    RunLock,
    TrainingSession,
    append_line,
    check_trackers,
    find_latest_checkpoint,
    is_checkpoint,
    launch_ranks,
    load_corpus,
    new_run_folder,
    open_trackers,
    set_threads,
    setup_ranks,
    teardown_ranks,
)
from tui.cli.args import UsageError, config_from_args
from tui.paths import checkpoints_root, default_corpus


def _default_out(preset_name: str) -> Path:
    return new_run_folder(checkpoints_root(), preset_name)


# what a resumed run may change; every other training flag is fixed by its checkpoint
RESUME_FLAGS = {"--steps", "--device", "--threads", "--data", "--out", "--resume"}
RESUME_FLAGS |= {"--allow-other-data", "--recalibrate-precision", "--nproc", "--grad-accum"}
RESUME_FLAGS |= {"--log-to"}
STOP_SIGNALS = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
LARGE_CORPUS_BYTES = 4 << 20  # below this, reading and encoding take well under a second

Stage = Callable[[str], Callable[[int, int], None] | None]


@contextmanager
def corpus_progress(console: Console, path: Path) -> Iterator[Stage]:
    """Progress bars for reading and encoding a large corpus; `stage(label)` gives the
    callback for one stage (None for a small corpus, which needs none)."""
    try:
        large = os.stat(path).st_size >= LARGE_CORPUS_BYTES
    except OSError:
        large = False  # load_corpus says what is wrong with it
    if not large:
        yield lambda label: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as progress:

        def stage(label: str) -> Callable[[int, int], None]:
            task = progress.add_task(label, total=None)
            return lambda done, total: progress.update(task, completed=done, total=total)

        yield stage


def _given_flags(argv: list[str]) -> list[str]:
    return [token.split("=", 1)[0] for token in argv if token.startswith("--")]


def _prepare_folder(out: Path):
    """Create the run folder and claim it for this process (one writer per folder)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out)
        lock.acquire()
    except OSError as error:
        raise UsageError(
            f"cannot write into {out}: {error.strerror or error}; choose another --out"
        ) from None
    return lock


def _open_training(args: argparse.Namespace, text: str, console, stage: Stage, ranks: RankInfo):
    """The session this command trains: a new run, or one resumed from its checkpoint. Only
    rank 0 creates and locks the folder; the other ranks never write to it."""
    if args.resume is not None:
        fixed = [f for f in _given_flags(args.argv) if f not in RESUME_FLAGS]
        if fixed:
            raise UsageError(
                f"{', '.join(dict.fromkeys(fixed))} cannot change when resuming (the "
                "checkpoint fixes them); drop them, or start a new run with another --out"
            )
        resume_dir = Path(args.resume) if isinstance(args.resume, str) else None
        resume_dir = resume_dir or (
            Path(args.out) if args.out else find_latest_checkpoint(checkpoints_root())
        )
        if resume_dir is None or not is_checkpoint(resume_dir):
            where = resume_dir or checkpoints_root()
            raise UsageError(f"no checkpoint to resume in {where}; train one first with --out DIR")
        lock = _prepare_folder(resume_dir) if ranks.is_main else None
        try:
            session = TrainingSession.from_checkpoint(
                resume_dir,
                text,
                args.device,
                max_steps=args.steps,
                allow_other_corpus=args.allow_other_data,
                run_lock=lock,
                progress=stage("encoding the corpus"),
                recalibrate_precision=args.recalibrate_precision,
                grad_accum=args.grad_accum,
            )
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return session, resume_dir
    config = config_from_args(args)
    out = Path(args.out) if args.out else _default_out(args.preset)
    if is_checkpoint(out):
        raise UsageError(
            f"{out} already holds a checkpoint; continue it with --resume {out} "
            "or pass another --out"
        )
    lock = _prepare_folder(out) if ranks.is_main else None
    if config.tokenizer == "bpe":
        sampled = (
            f", from an evenly spread {BPE_SAMPLE_CHARS:,}-character sample of the corpus"
            if len(text) > BPE_SAMPLE_CHARS
            else ""
        )
        console.print(
            f"training a byte-level BPE tokenizer ({config.bpe_vocab_size} tokens{sampled})"
        )
    try:
        session = TrainingSession(
            config,
            text,
            args.device,
            out,
            weights_only=args.weights_only,
            run_lock=lock,
            recalibrate_precision=args.recalibrate_precision,
            progress=stage("encoding the corpus"),
        )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return session, out


class SmoothedRate:
    """Tokens/s as the progress bar shows it: a debiased moving average over about the last
    twenty steps, so one slow step (an evaluation, a save) does not make the figure jump."""

    def __init__(self, weight: float = 0.95) -> None:
        self.weight, self.average, self.count = weight, 0.0, 0

    def update(self, value: float) -> float:
        self.count += 1
        self.average = self.weight * self.average + (1 - self.weight) * value
        return self.average / (1 - self.weight**self.count)


class StopSignals:
    """The handler of stop signals: the first stops the run, which saves; a second Ctrl+C
    quits at once (KeyboardInterrupt), except while a checkpoint is being written, which it
    would cut short: that one is said and waited for."""

    def __init__(self, session: TrainingSession, console: Console) -> None:
        self.session, self.console = session, console
        self.received: list[str] = []

    def __call__(self, signum: int, frame: object = None) -> None:
        self.received.append(STOP_SIGNALS[signum])
        if signum == signal.SIGHUP:
            self.console.quiet = True  # the terminal is gone: writing to it would fail
        if len(self.received) > 1 and signum == signal.SIGINT:
            if self.session.saving:
                self.console.print("saving the checkpoint first: it takes a moment")
                return
            raise KeyboardInterrupt
        self.session.stop()


def _record_command(out: Path, argv: list[str], comment: str = "") -> None:
    """Append this command to the run's command.txt: every command of the run is kept."""
    try:
        append_line(out / "command.txt", shlex.join(["minigpt", *argv]) + comment)
    except OSError as error:
        raise UsageError(
            f"cannot write into {out}: {error.strerror}; choose another --out"
        ) from None


def _launch(args: argparse.Namespace) -> int:
    """--nproc N: this same command as N ranks of one machine, under torchrun."""
    if "WORLD_SIZE" in os.environ:
        raise UsageError("--nproc starts torchrun itself; under torchrun, drop --nproc")
    argv, skip = [], False
    for token in args.argv:
        if not skip and token != "--nproc" and not token.startswith("--nproc="):
            argv.append(token)
        skip = token == "--nproc"
    return launch_ranks("tui.cli", argv, args.nproc)


def cmd_train(args: argparse.Namespace) -> int:
    if args.nproc is not None and args.nproc > 1:
        return _launch(args)
    check_trackers(args.log_to or ())  # a missing package is said before the corpus is read
    ranks = setup_ranks(args.device)  # a no-op outside torchrun
    try:
        console = Console(stderr=True, quiet=not ranks.is_main)  # rank 0 speaks for all
        set_threads(args.threads)
        path = Path(args.data) if args.data else default_corpus()
        with corpus_progress(console, path) as stage:
            text = load_corpus(path, progress=stage("reading the corpus"))
            session, out = _open_training(args, text, console, stage, ranks)
        session.corpus_name = path.name  # the Runs screen names the corpus a run learned
        try:
            return _run_training(args, session, out, console)
        finally:
            if session.run_lock is not None:  # steps() lets it go too; this is every other way
                session.run_lock.release()
    finally:
        teardown_ranks()


def _run_training(args: argparse.Namespace, session, out: Path, console) -> int:
    config, ranks = session.config, session.ranks
    world = ranks.world_size
    # the same run again on this machine: --nproc; on several, the same torchrun commands
    nproc = ["--nproc", str(world)] if world > 1 and ranks.one_machine else []
    again = "" if ranks.one_machine else f"  # rank 0 of {world}, under torchrun"
    if ranks.is_main:
        _record_command(out, [*args.argv, *nproc], again)
    console.print(
        f"[bold]{args.preset if args.resume is None else 'resume'}[/]: "
        f"{session.model.num_parameters():,} parameters, vocab {session.tokenizer.vocab_size} "
        f"({config.tokenizer}), {session.device}, {set_threads(None)} threads"
        f"{f' x {world} processes' if world > 1 else ''}, "
        f"step {session.step}/{config.max_steps}"
    )
    console.print(f"run folder: {out}", highlight=False)
    if world > 1 or config.grad_accum > 1:
        console.print(
            f"global batch: {config.batch_size * config.grad_accum * world} sequences "
            f"({config.batch_size} a micro-batch x {config.grad_accum} a step x {world} "
            "processes)"
        )
    console.print(f"precision: {session.precision.reason}", highlight=False)

    on_signal = StopSignals(session, console)
    received = on_signal.received
    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("val {task.fields[val]}"),
        TextColumn("{task.fields[rate]} tok/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=console.quiet,
    )
    val, rate = "-", SmoothedRate()
    # rank 0 speaks for all here too: one run in the tracker, not one per rank
    names = args.log_to if ranks.is_main and args.log_to else ()
    trackers = open_trackers(names, out, config, session.step)
    try:
        with progress, trackers:
            task = progress.add_task(
                "train", total=config.max_steps, completed=session.step, loss="-", val=val, rate="-"
            )
            for metrics in session.steps():
                trackers.log(metrics)
                if metrics.val_loss is not None:
                    val = f"{metrics.val_loss:.4f}"
                    progress.console.print(
                        f"step {metrics.step}: val loss {metrics.val_loss:.4f}  "
                        f"train loss {metrics.loss:.4f}"
                    )
                    if metrics.sample:  # the model's text as it is: never read as markup
                        sample = Text(metrics.sample.strip()[:200], style="dim")
                        progress.console.print(sample, highlight=False)
                progress.update(
                    task,
                    completed=metrics.step,
                    loss=f"{metrics.loss:.4f}",
                    val=val,
                    rate=f"{rate.update(metrics.tokens_per_second):,.0f}",
                )
    except KeyboardInterrupt:  # a second Ctrl+C, between saves
        saved = session.saved_step
        what = f"the checkpoint of step {saved} is kept" if saved is not None else "nothing saved"
        console.print(f"interrupted at step {session.step} without saving; {what} in {out}")
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    kept = f"; the best is kept in {out / 'best'}" if config.keep_best else ""
    if session.best.exhausted:
        console.print(f"stopped early at step {session.step}: {session.best.reason()}{kept}")
    elif session.stopped:
        resume = ["minigpt", "train", "--resume", str(out), *nproc]
        if args.data:
            resume += ["--data", args.data]
        why = received[0] if received else "another rank was told to stop"
        console.print(f"stopped ({why}) at step {session.step}; saved {out}. Continue with:")
        console.print(shlex.join(resume) + again, soft_wrap=True, highlight=False)
    else:
        console.print(f"done: step {session.step}, checkpoint and metrics.jsonl in {out}{kept}")
    return 0
