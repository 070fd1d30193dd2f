"""Past runs under a checkpoints folder: what each run folder and saved race holds, read from
its manifest, metrics log and lock alone (no tensors), and whether it can be resumed."""

from __future__ import annotations

import fcntl
import json
import math
import os
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from core.checkpoint.manifest import MANIFEST, check_manifest, read_manifest
from core.checkpoint.run_folder import LOCK_NAME, METRICS_FILE, read_metrics, read_note
from core.config import PRESETS, Config
from core.errors import UserError
from core.experiments import LEAK_NATS, RESULTS_FILE, VARIANTS

COMMAND_FILE = "command.txt"
EXPERIMENTS_FOLDER = "experiments"
RUN_FILES = (MANIFEST, METRICS_FILE, LOCK_NAME, COMMAND_FILE, "train.log")
SHAPE_FIELDS = ("num_layers", "embedding_dim", "num_heads", "block_size")


class RunStatus(Enum):
    """Where a run stands."""

    FINISHED = "finished"
    STOPPED = "stopped"
    RUNNING = "running"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class LossCurves:
    """A run's training loss at every logged step and its validation loss at each evaluation."""

    steps: tuple[int, ...] = ()
    losses: tuple[float, ...] = ()
    val_steps: tuple[int, ...] = ()
    val_losses: tuple[float, ...] = ()
    elapsed: tuple[float, ...] = ()  # training seconds at each of `steps` (a race's: none)


@dataclass(frozen=True)
class RunSummary:
    """One run folder, saved race or race variant, as plain values."""

    path: Path
    name: str
    kind: str  # "run", "experiment" or "variant" (a race's variant, inside its experiment)
    modified: float  # seconds since the epoch: when it last wrote a file
    status: RunStatus
    problem: str | None = None  # DAMAGED: what is wrong, in one line
    owner_pid: int | None = None  # RUNNING: the process holding the folder's lock
    config: Config | None = None
    vocab_size: int | None = None
    corpus: str | None = None  # what it trained on: file name, characters, fingerprint
    corpus_sha256: str | None = None  # the whole fingerprint: the same text, or not
    step: int = 0  # steps done: the checkpoint's, or the log's while running
    max_steps: int | None = None  # steps planned
    train_loss: float | None = None  # the last logged step's
    best_val_loss: float | None = None  # a race variant's: under the real causal mask
    leaks: bool = False  # a race variant whose own loss and causal loss differ: it saw the future
    tokens_seen: int | None = None
    resumable: bool = False  # the checkpoint holds the optimizer's state
    variants: tuple[RunSummary, ...] = ()  # an experiment's variants, baseline first
    curves: LossCurves | None = field(default=None, repr=False)  # variants carry theirs
    note: str | None = None  # the user's own words about it (note.txt)

    @property
    def state_text(self) -> str:
        """The status in a few words: finished, stopped at step N, running, damaged: why."""
        if self.status is RunStatus.STOPPED:
            return f"stopped at step {self.step}"
        if self.status is RunStatus.RUNNING:
            owner = f"pid {self.owner_pid}" if self.owner_pid else "another process"
            return f"running (locked by {owner})"
        if self.status is RunStatus.DAMAGED:
            return f"damaged: {self.problem}"
        return "finished"


def preset_name(config: Config) -> str | None:
    """The preset whose shape (layers, width, heads, block) this config has, if any."""
    shape = tuple(getattr(config, name) for name in SHAPE_FIELDS)
    for name, values in PRESETS.items():
        if tuple(getattr(values, field_name) for field_name in SHAPE_FIELDS) == shape:
            return name
    return None


def lock_owner(directory: Path) -> int | None:
    """The pid holding the folder's run lock (0 when it is held but names no pid), or None."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        # a shared lock conflicts only with a writer's exclusive one, and is dropped at once
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else 0
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def _read_checkpoint(directory: Path):
    """The checked manifest and what it describes; UserError in one line when it is unusable."""
    if not directory.exists():
        raise UserError(f"no checkpoint at {directory}")
    if directory.is_dir() and not os.path.lexists(directory / MANIFEST):
        raise UserError(f"no checkpoint in {directory} (it holds no {MANIFEST})")
    manifest = read_manifest(directory)
    contents = check_manifest(manifest, directory, False)
    for name in manifest["files"].values():
        if not (directory / name).is_file():
            raise UserError(f"{directory / name} is missing; restore it or train a new run")
    return manifest, contents


def checkpoint_problem(directory: str | Path) -> str | None:
    """What keeps a checkpoint folder from loading, in one line, as far as its manifest and
    file list tell (checksums are checked on loading); None when it looks loadable."""
    try:
        _read_checkpoint(Path(directory))
    except UserError as error:
        return _one_line(error)
    return None


def corpus_text(extra: dict) -> str | None:
    """A checkpoint's corpus in a few words: its file name (when known), its length in
    characters and the start of its SHA-256; None for a checkpoint that recorded none."""
    corpus = extra.get("corpus")
    if not isinstance(corpus, dict):
        return None
    name = extra.get("corpus_name")
    parts = [str(name)] if isinstance(name, str) else []
    if isinstance(corpus.get("characters"), int):
        parts.append(f"{corpus['characters']:,} characters")
    if isinstance(corpus.get("sha256"), str):
        parts.append(f"sha256 {corpus['sha256'][:12]}")
    return " · ".join(parts) or None


def _one_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


def _modified(directory: Path, names: tuple[str, ...]) -> float:
    """When the run last wrote one of its files; the folder's own time only when it holds
    none (a note or an export changes the folder's time, and must not make a run look new)."""
    times = []
    for name in names:
        try:
            times.append((directory / name).stat().st_mtime)
        except OSError:
            pass
    return max(times) if times else directory.stat().st_mtime


def read_curves(directory: str | Path) -> LossCurves:
    """The loss curves of a run folder's metrics log (empty when it has none)."""
    steps, losses, val_steps, val_losses, elapsed = [], [], [], [], []
    path, cursor = Path(directory) / METRICS_FILE, None
    while True:
        chunk, cursor, restarted = read_metrics(path, cursor)
        if restarted:  # rewritten while being read (a resume trimmed it): read it again
            steps, losses, val_steps, val_losses, elapsed = [], [], [], [], []
        if not chunk and not restarted:
            break
        for metrics in chunk:
            steps.append(metrics.step)
            losses.append(metrics.loss)
            elapsed.append(metrics.elapsed)
            if metrics.val_loss is not None:
                val_steps.append(metrics.step)
                val_losses.append(metrics.val_loss)
    return LossCurves(*map(tuple, (steps, losses, val_steps, val_losses, elapsed)))


def _corpus_sha256(extra: dict) -> str | None:
    digest = extra["corpus"].get("sha256") if isinstance(extra.get("corpus"), dict) else None
    return digest if isinstance(digest, str) else None


def _best(values: tuple[float, ...]) -> float | None:
    finite = [value for value in values if math.isfinite(value)]
    return min(finite) if finite else None


def read_run(directory: str | Path) -> RunSummary:
    """A run folder's summary: its checkpoint's manifest, its metrics log and its lock."""
    directory = Path(directory)
    curves = read_curves(directory)
    summary = RunSummary(
        path=directory,
        name=directory.name,
        kind="run",
        modified=_modified(directory, RUN_FILES),
        status=RunStatus.DAMAGED,
        step=curves.steps[-1] if curves.steps else 0,
        train_loss=curves.losses[-1] if curves.losses else None,
        best_val_loss=_best(curves.val_losses),
        note=read_note(directory),
    )
    owner = lock_owner(directory)
    running = {"status": RunStatus.RUNNING, "owner_pid": owner} if owner is not None else {}
    if not (directory / MANIFEST).exists():  # while training: no evaluation has saved yet
        problem = "no checkpoint was saved (it ended before its first evaluation)"
        return replace(summary, problem=None if running else problem, **running)
    try:
        manifest, contents = _read_checkpoint(directory)
    except UserError as error:
        return replace(summary, problem=_one_line(error), **running)
    config, step = contents.config, contents.step
    tokens = config.batch_size * config.block_size * config.grad_accum
    done = RunStatus.FINISHED if step >= config.max_steps else RunStatus.STOPPED
    return replace(
        summary,
        **({"status": done} | running),
        config=config,
        vocab_size=contents.tokenizer.vocab_size,
        corpus=corpus_text(contents.extra),
        corpus_sha256=_corpus_sha256(contents.extra),
        max_steps=config.max_steps,
        step=max(step, summary.step) if running else step,
        tokens_seen=step * tokens * contents.extra.get("world_size", 1),
        resumable=manifest.get("optimizer") is not None,
    )


def read_experiment(directory: str | Path) -> RunSummary:
    """A saved race's summary, with one summary per variant (their validation curves)."""
    directory = Path(directory)
    summary = RunSummary(
        path=directory,
        name=directory.name,
        kind="experiment",
        modified=_modified(directory, (RESULTS_FILE, "race.log")),
        status=RunStatus.DAMAGED,
        note=read_note(directory),
    )
    path = directory / RESULTS_FILE
    if not path.is_file():
        problem = f"no {RESULTS_FILE}: still racing, or interrupted (see race.log)"
        return replace(summary, problem=problem)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        planned = int(report["steps"])
        base = Config.from_dict(report["config"])  # as the race ran it (core.experiments.race)
        base = replace(base, max_steps=planned, warmup_steps=min(base.warmup_steps, planned // 10))
        variants = tuple(
            _variant(directory, base, planned, values) for values in report["variants"]
        )
    except (OSError, ValueError, KeyError, TypeError, UserError) as error:
        return replace(summary, problem=f"{path} is unreadable ({_one_line(error)})")
    done = min((variant.step for variant in variants), default=0)
    finished = done >= planned and not report.get("stopped", False)
    bests = [variant.best_val_loss for variant in variants if variant.best_val_loss is not None]
    return replace(
        summary,
        status=RunStatus.FINISHED if finished else RunStatus.STOPPED,
        config=base,
        step=done,
        max_steps=planned,
        best_val_loss=min(bests) if bests else None,
        tokens_seen=sum(variant.tokens_seen or 0 for variant in variants),
        variants=variants,
    )


def _variant(directory: Path, base: Config, planned: int, values: dict) -> RunSummary:
    name = values["name"]
    variant = str(values.get("variant", name))  # a scenario's arm names its variant
    config = VARIANTS[variant].change(base) if variant in VARIANTS else base
    points = values["curve"]
    steps = tuple(int(point["step"]) for point in points)
    # what the variant reached under the real causal mask: a leaky variant's own loss is not
    # a loss any model could reach on unseen text
    causal = tuple(float(point.get("causal_val_loss", point["val_loss"])) for point in points)
    own = tuple(float(point["val_loss"]) for point in points)
    leaks = any(abs(a - b) > LEAK_NATS for a, b in zip(own, causal, strict=True))
    step = steps[-1] if steps else 0
    return RunSummary(
        path=directory,
        name=name,
        kind="variant",
        modified=0.0,
        status=RunStatus.FINISHED if step >= planned else RunStatus.STOPPED,
        config=config,
        step=step,
        max_steps=planned,
        best_val_loss=_best(causal),
        leaks=leaks,
        tokens_seen=step * config.batch_size * config.block_size * config.grad_accum,
        curves=LossCurves(val_steps=steps, val_losses=causal),
    )


def is_run_folder(directory: Path) -> bool:
    """A folder a training run wrote (or is writing) into."""
    return directory.is_dir() and any(os.path.lexists(directory / name) for name in RUN_FILES)


def list_runs(root: str | Path) -> list[RunSummary]:
    """Every run folder under `root` and every race under `root/experiments`, newest first."""
    root = Path(root)
    found: list[RunSummary] = []
    folders = sorted(root.iterdir()) if root.is_dir() else []
    for folder in folders:
        if folder.name == EXPERIMENTS_FOLDER and not is_run_folder(folder):
            races = sorted(folder.iterdir()) if folder.is_dir() else []
            found += [read_experiment(race) for race in races if race.is_dir()]
        elif is_run_folder(folder):
            found.append(read_run(folder))
    return sorted(found, key=lambda summary: summary.modified, reverse=True)


def resume_refusal(summary: RunSummary) -> str | None:
    """Why this run cannot be resumed, in one line saying what to do; None when it can."""
    name = summary.name
    if summary.kind != "run":
        return f"{name} is a race: races are not resumed; run it again (minigpt experiment)"
    if summary.status is RunStatus.RUNNING:
        owner = f"pid {summary.owner_pid}" if summary.owner_pid else "another process"
        return f"{name} is being trained by {owner}; wait for it to finish or stop it first"
    if summary.status is RunStatus.DAMAGED:
        return f"{name} cannot be resumed: {summary.problem}"
    if not summary.resumable:
        return f"{name} holds weights only (--weights-only); it can be loaded, not resumed"
    if summary.status is RunStatus.FINISHED:
        more = summary.step + (summary.max_steps or 0)
        return (
            f"{name} finished all {summary.step} steps; to train it further: minigpt train "
            f"--resume {summary.path} --steps {more}"
        )
    return None


# a loss above 3/4 of ln V (a uniform guess) has learned little beyond how often each token occurs
TRAINED_LOSS_FRACTION = 0.75


def looks_trained(summary: RunSummary) -> bool:
    """Whether a loadable run has learned more than token frequencies: its best validation loss
    (its last training loss when it logged none) at most 3/4 of a uniform guess's ln V."""
    if summary.kind != "run" or summary.status not in (RunStatus.FINISHED, RunStatus.STOPPED):
        return False
    loss = summary.best_val_loss if summary.best_val_loss is not None else summary.train_loss
    if loss is None or not summary.vocab_size or summary.vocab_size < 2:
        return False
    return loss <= TRAINED_LOSS_FRACTION * math.log(summary.vocab_size)


@dataclass(frozen=True)
class CheckpointChoice:
    """The checkpoint a command uses when none is named, and why, in one line."""

    path: Path | None
    reason: str


def _loss_text(summary: RunSummary) -> str:
    loss = summary.best_val_loss if summary.best_val_loss is not None else summary.train_loss
    uniform = math.log(summary.vocab_size) if summary.vocab_size else None
    if loss is None or uniform is None:
        return f"step {summary.step}, no loss logged"
    return f"step {summary.step}, loss {loss:.2f} where a uniform guess scores {uniform:.2f}"


def choose_checkpoint(root: str | Path, shipped: Path | None) -> CheckpointChoice:
    """The newest run under `root` that looks trained, else the shipped model.

    A run that is still training, damaged or barely trained (`looks_trained`) is passed over,
    and the reason names the newest one passed over, so a 5-step smoke run never silently
    replaces a model that writes words."""
    runs = [summary for summary in list_runs(root) if summary.kind == "run"]  # newest first
    trained = next((summary for summary in runs if looks_trained(summary)), None)
    newer = runs[: runs.index(trained)] if trained is not None else runs
    passed = (
        f"; passed over {newer[0].path} ({_loss_text(newer[0])}), which looks unfinished"
        if newer
        else ""
    )
    if trained is not None:
        return CheckpointChoice(
            trained.path, f"the newest trained run under {root} ({_loss_text(trained)}){passed}"
        )
    if shipped is None or not (shipped / MANIFEST).is_file():
        return CheckpointChoice(None, f"no trained checkpoint under {root}{passed}")
    return CheckpointChoice(shipped, f"the shipped model{passed or f'; no run under {root} yet'}")
