"""The `minigpt` command: train, sample, chat, bench and the studio."""

from __future__ import annotations

import argparse
import itertools
import shlex
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from core import UserError
from tui.paths import checkpoints_root, default_corpus

EXIT_USAGE = 2


class UsageError(Exception):
    """A one-line problem with what the user asked for (exit code 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors in one line, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _whole_number(text: str, minimum: int, requirement: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0, ">= 0")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


# --- train ----------------------------------------------------------------------------------

MODEL_FLAGS = {
    # flag dest -> Config field
    "steps": "max_steps",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "block_size": "block_size",
    "num_layers": "num_layers",
    "num_heads": "num_heads",
    "embedding_dim": "embedding_dim",
    "ffn_dim": "ffn_dim",
    "dropout": "dropout",
    "eval_interval": "eval_interval",
    "tokenizer": "tokenizer",
    "bpe_vocab_size": "bpe_vocab_size",
    "seed": "seed",
    "grad_clip": "grad_clip",
    "warmup_steps": "warmup_steps",
    "precision": "precision",
    "compile": "compile",
}


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that override single fields of a preset (shared by train and bench)."""
    parser.add_argument("--preset", default="small", help="tiny, small, recipe or seed")
    parser.add_argument("--steps", type=positive_int, help="training steps (max_steps)")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--lr", type=positive_float, help="peak learning rate")
    parser.add_argument("--block-size", type=positive_int)
    parser.add_argument("--num-layers", type=positive_int)
    parser.add_argument("--num-heads", type=positive_int)
    parser.add_argument("--embedding-dim", type=positive_int)
    parser.add_argument("--ffn-dim", type=positive_int)
    parser.add_argument("--dropout", type=non_negative_float)
    parser.add_argument("--eval-interval", type=positive_int)
    parser.add_argument("--tokenizer", choices=["char", "bpe"])
    parser.add_argument("--bpe-vocab-size", type=positive_int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--grad-clip", type=non_negative_float, help="0 disables clipping")
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=positive_int, help="torch intra-op threads")


def config_from_args(args: argparse.Namespace):
    from core import preset

    config = preset(args.preset)
    changes = {
        field: getattr(args, dest)
        for dest, field in MODEL_FLAGS.items()
        if getattr(args, dest, None) is not None
    }
    return replace(config, **changes)


def _default_out(preset_name: str) -> Path:
    return checkpoints_root() / f"{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}"


# what a resumed run may change; every other training flag is fixed by its checkpoint
RESUME_FLAGS = {"--steps", "--device", "--threads", "--data", "--out", "--resume"}
RESUME_FLAGS |= {"--allow-other-data"}
STOP_SIGNALS = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


def _given_flags(argv: list[str]) -> list[str]:
    return [token.split("=", 1)[0] for token in argv if token.startswith("--")]


def _prepare_folder(out: Path):
    """Create the run folder and claim it for this process (one writer per folder)."""
    from core import RunLock

    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out)
        lock.acquire()
    except OSError as error:
        raise UsageError(
            f"cannot write into {out}: {error.strerror or error}; choose another --out"
        ) from None
    return lock


def _open_training(args: argparse.Namespace, text: str, console):
    """The session this command trains: a new run, or one resumed from its checkpoint."""
    from core import TrainingSession, find_latest_checkpoint, is_checkpoint

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
        lock = _prepare_folder(resume_dir)
        try:
            session = TrainingSession.from_checkpoint(
                resume_dir,
                text,
                args.device,
                max_steps=args.steps,
                allow_other_corpus=args.allow_other_data,
                run_lock=lock,
            )
        except BaseException:
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
    lock = _prepare_folder(out)
    if config.tokenizer == "bpe":
        console.print(f"training a byte-level BPE tokenizer ({config.bpe_vocab_size} tokens)")
    try:
        session = TrainingSession(
            config, text, args.device, out, weights_only=args.weights_only, run_lock=lock
        )
    except BaseException:
        lock.release()
        raise
    return session, out


def _record_command(out: Path, argv: list[str]) -> None:
    """Append this command to the run's command.txt: every command of the run is kept."""
    try:
        with open(out / "command.txt", "a", encoding="utf-8") as f:
            f.write(shlex.join(["minigpt", *argv]) + "\n")
    except OSError as error:
        raise UsageError(
            f"cannot write into {out}: {error.strerror}; choose another --out"
        ) from None


def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from core import load_corpus, set_threads

    console = Console(stderr=True)
    set_threads(args.threads)
    text = load_corpus(args.data or default_corpus())
    session, out = _open_training(args, text, console)
    try:
        return _run_training(args, session, out, console)
    finally:
        session.run_lock.release()  # steps() lets it go too; this covers every other way out


def _run_training(args: argparse.Namespace, session, out: Path, console) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from core import set_threads

    config = session.config
    _record_command(out, args.argv)
    console.print(
        f"[bold]{args.preset if args.resume is None else 'resume'}[/]: "
        f"{session.model.num_parameters():,} parameters, vocab {session.tokenizer.vocab_size} "
        f"({config.tokenizer}), {session.device}, {set_threads(None)} threads, "
        f"step {session.step}/{config.max_steps} -> {out}"
    )

    received: list[str] = []

    def on_signal(signum, frame) -> None:
        received.append(STOP_SIGNALS[signum])
        if signum == signal.SIGHUP:
            console.quiet = True  # the terminal is gone: writing to it would fail
        if len(received) > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        session.stop()

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
    )
    val = "-"
    try:
        with progress:
            task = progress.add_task(
                "train", total=config.max_steps, completed=session.step, loss="-", val=val, rate="-"
            )
            for metrics in session.steps():
                if metrics.val_loss is not None:
                    val = f"{metrics.val_loss:.4f}"
                    progress.console.print(
                        f"step {metrics.step}: val loss {metrics.val_loss:.4f}  "
                        f"train loss {metrics.loss:.4f}"
                    )
                    if metrics.sample:
                        progress.console.print(f"[dim]{metrics.sample.strip()[:200]}[/]")
                progress.update(
                    task,
                    completed=metrics.step,
                    loss=f"{metrics.loss:.4f}",
                    val=val,
                    rate=f"{metrics.tokens_per_second:,.0f}",
                )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if session.stopped:
        resume = ["minigpt", "train", "--resume", str(out)]
        if args.data:
            resume += ["--data", args.data]
        console.print(
            f"stopped ({received[0]}) at step {session.step}; saved {out}. Continue with:"
        )
        console.print(shlex.join(resume), soft_wrap=True, highlight=False)
    else:
        console.print(f"done: step {session.step}, checkpoint and metrics.jsonl in {out}")
    return 0


# --- sample and chat ------------------------------------------------------------------------


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the newest)")
    parser.add_argument("--temperature", type=non_negative_float, help="0 is greedy")
    parser.add_argument("--top-k", type=positive_int)
    parser.add_argument("--top-p", type=positive_float)
    parser.add_argument("--min-p", type=non_negative_float)
    parser.add_argument("--repetition-penalty", type=positive_float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])


def sampling_from_args(args: argparse.Namespace):
    from core import SamplingConfig

    changes = {
        name: getattr(args, name)
        for name in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")
        if getattr(args, name, None) is not None
    }
    if getattr(args, "max_new_tokens", None) is not None:
        changes["max_new_tokens"] = args.max_new_tokens
    return SamplingConfig(**changes)


def resolve_checkpoint(path: str | None) -> Path:
    from core import find_latest_checkpoint

    if path:
        return Path(path)
    latest = find_latest_checkpoint(checkpoints_root())
    if latest is None:
        raise UsageError(
            f"no checkpoint under {checkpoints_root()}; make one with "
            "'minigpt train --preset tiny --steps 200 --out checkpoints/smoke'"
        )
    return latest


def open_session(args: argparse.Namespace, use_cache: bool = True):
    from core import GenerationSession

    return GenerationSession.from_checkpoint(
        resolve_checkpoint(args.checkpoint),
        sampling_from_args(args),
        args.device,
        seed=args.seed,
        use_cache=use_cache,
    )


def cmd_sample(args: argparse.Namespace) -> int:
    session = open_session(args, use_cache=not args.no_cache)
    out = sys.stdout
    stream = session.stream(args.prompt, args.max_new_tokens)
    first = next(stream)  # the prefill runs here, so a bad prompt fails before any output
    out.write(session.tokenizer.decode(session.ids[: session.prompt_length]))
    # only the report lines are kept (and only when asked for): memory stays flat otherwise
    report: list[str] = []
    for step in itertools.chain([first], stream):
        out.write(step.text)
        out.flush()
        if args.show_probs:
            shown = "  ".join(f"{c.text!r} {c.prob:.3f}" for c in step.candidates[:5])
            report.append(f"{step.token!r:>8} p={step.prob:.3f} H={step.entropy:.2f}b | {shown}")
    out.write("\n")
    out.flush()
    for line in report:
        print(line, file=sys.stderr)
    return 0


CHAT_HELP = "/temp T  /topk K  /topp P  /reset  /quit   (Ctrl+C stops a reply)"


def cmd_chat(args: argparse.Namespace) -> int:
    session = open_session(args)
    print(f"chatting with {session.checkpoint_step or 0}-step model. {CHAT_HELP}")
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.startswith("/"):
            if not _chat_command(session, line):
                return 0
            continue
        try:
            session.extend(line + "\n")
        except ValueError as error:
            print(f"error: {error}")
            continue
        started, count = time.perf_counter(), 0
        reply = ""
        try:
            for _ in range(args.max_new_tokens):
                step = session.step()
                count += 1
                reply += step.text
                sys.stdout.write(step.text)
                sys.stdout.flush()
                if reply.endswith("\n\n"):
                    break
        except KeyboardInterrupt:
            print(" [stopped]")
        elapsed = time.perf_counter() - started
        print(
            f"\n[{count} tokens, {count / max(elapsed, 1e-9):.0f} tok/s, "
            f"cache {session.cache_length}/{session.model.config.block_size}]"
        )


def _chat_command(session, line: str) -> bool:
    name, _, value = line.partition(" ")
    settings = {"/temp": ("temperature", float), "/topk": ("top_k", int), "/topp": ("top_p", float)}
    if name == "/quit":
        return False
    if name == "/reset":
        session.ids = []
        print("[conversation reset]")
    elif name in settings:
        field, cast = settings[name]
        try:
            session.set_sampling(**{field: cast(value)})
            print(f"[{field} = {getattr(session.sampling, field)}]")
        except ValueError as error:
            print(f"error: {error}")
    else:
        print(f"unknown command {name}; {CHAT_HELP}")
    return True


# --- studio and bench -----------------------------------------------------------------------


def cmd_studio(args: argparse.Namespace) -> int:
    from tui.app import run_studio

    return run_studio(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from tui.bench import run_bench

    return run_bench(args)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="minigpt", description="Build, train and watch a GPT.")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)

    train = sub.add_parser("train", help="train a model (default preset: small)")
    add_model_flags(train)
    train.add_argument("--data", help="UTF-8 text file (default: the shipped Shakespeare)")
    train.add_argument("--out", help="checkpoint folder (default: checkpoints/PRESET-TIME)")
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="DIR",
        help="continue a run (DIR, else --out, else the newest checkpoint)",
    )
    train.add_argument(
        "--allow-other-data",
        action="store_true",
        help="with --resume: continue on a corpus other than the checkpoint's",
    )
    train.add_argument(
        "--weights-only",
        action="store_true",
        help="save weights and tokenizer only (a third of the size; cannot be resumed)",
    )
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="generate text from a checkpoint")
    add_sampling_flags(sample)
    sample.add_argument("--prompt", default="", help="start text (empty: a newline)")
    sample.add_argument("--max-new-tokens", type=positive_int, default=200)
    sample.add_argument("--no-cache", action="store_true", help="recompute without the KV cache")
    sample.add_argument("--show-probs", action="store_true", help="top candidates to stderr")
    sample.set_defaults(func=cmd_sample)

    chat = sub.add_parser("chat", help="a terminal chat over a checkpoint")
    add_sampling_flags(chat)
    chat.add_argument("--max-new-tokens", type=positive_int, default=300)
    chat.set_defaults(func=cmd_chat)

    studio = sub.add_parser("studio", help="open the studio (the default)")
    studio.add_argument("--checkpoint", help="checkpoint folder for Generate and Chat")
    studio.add_argument("--data", help="UTF-8 text file to train on")
    studio.add_argument("--preset", default="small", help="the training form's preset")
    studio.add_argument(
        "--threads", type=positive_int, help="torch threads for training (default: every core)"
    )
    studio.set_defaults(func=cmd_studio)

    bench = sub.add_parser("bench", help="measure training, generation and the studio")
    bench.set_defaults(func=cmd_bench)
    from tui.bench import add_bench_arguments

    add_bench_arguments(bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
            argv = ["studio", *argv]
        args = parser.parse_args(argv)
        args.argv = argv
        return args.func(args)
    except UsageError as error:
        print(f"minigpt: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as error:  # core's messages say what to change
        print(f"minigpt: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("minigpt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
