"""Experiment trackers: each logged step's metrics and the run's config sent to TensorBoard or
Weights & Biases, behind one small interface. Both are optional (the `tracking` extra)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from core.config import Config
from core.errors import UserError
from core.events import StepMetrics

# tracker name: the module it needs (what the extra installs)
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}
EXTRA = "pip install 'minigpt-studio[tracking]'"
WANDB_PROJECT = "minigpt-studio"


class Tracker(Protocol):
    """Where a run's metrics go besides metrics.jsonl."""

    def log(self, metrics: StepMetrics) -> None: ...

    def close(self) -> None: ...


def check_trackers(names: Iterable[str]) -> tuple[str, ...]:
    """The tracker names, each once, in order; UserError for an unknown one or one whose
    package is not installed (naming the extra that brings it)."""
    chosen = tuple(dict.fromkeys(names))
    for name in chosen:
        if name not in TRACKERS:
            raise UserError(f"unknown tracker {name!r}; choose {' or '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise UserError(f"logging to {name} needs the {TRACKERS[name]} package: {EXTRA}")
    return chosen


def scalars(metrics: StepMetrics) -> dict[str, float]:
    """A step's numbers under the names both trackers show them by."""
    values = {
        "train/loss": metrics.loss,
        "train/grad_norm": metrics.grad_norm,
        "train/lr": metrics.lr,
        "train/tokens_per_second": metrics.tokens_per_second,
    }
    if metrics.val_loss is not None:
        values["val/loss"] = metrics.val_loss
    return values


class TensorBoardTracker:
    """Event files in the run folder's tensorboard/ (`tensorboard --logdir checkpoints`)."""

    def __init__(self, run_dir: Path, config: Config, start_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step hides the steps past a resumed checkpoint, as the metrics log trims them
        purge = start_step + 1 if start_step else None
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=purge)
        rows = "\n".join(f"| {key} | {value} |" for key, value in asdict(config).items())
        self.writer.add_text("config", f"| setting | value |\n| --- | --- |\n{rows}", start_step)

    def log(self, metrics: StepMetrics) -> None:
        for name, value in scalars(metrics).items():
            self.writer.add_scalar(name, value, metrics.step)
        if metrics.sample:
            self.writer.add_text("sample", metrics.sample, metrics.step)

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A W&B run whose files go into the run folder's wandb/; offline with WANDB_MODE=offline,
    then `wandb sync` uploads it."""

    def __init__(self, run_dir: Path, config: Config) -> None:
        import wandb

        # console off: W&B would otherwise wrap this process's stdout, which the CLI's
        # progress bar and the studio's child own
        settings = wandb.Settings(console="off", silent=True)
        try:
            self.run = wandb.init(
                project=WANDB_PROJECT,
                name=run_dir.name,
                dir=str(run_dir),
                config=asdict(config),
                settings=settings,
            )
        except Exception as error:  # W&B's own errors (no login, no network) are many kinds
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise UserError(
                f"W&B could not start a run ({reason}); run wandb login, or set "
                "WANDB_MODE=offline and wandb sync the run's wandb/ folder later"
            ) from None

    def log(self, metrics: StepMetrics) -> None:
        self.run.log(scalars(metrics), step=metrics.step)

    def close(self) -> None:
        self.run.finish()


class Trackers:
    """The trackers of one run, used as a context manager: every one is closed (its files
    flushed, a W&B run finished) however the run ends."""

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.trackers = list(trackers)

    def log(self, metrics: StepMetrics) -> None:
        for tracker in self.trackers:
            tracker.log(metrics)

    def close(self) -> None:
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            tracker.close()

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_trackers(
    names: Sequence[str], run_dir: str | Path, config: Config, start_step: int = 0
) -> Trackers:
    """The trackers `names` asks for, writing beside the run's checkpoint in `run_dir`;
    `start_step` is the step a resumed run continues from."""
    run_dir = Path(run_dir)
    opened = Trackers()
    try:
        for name in check_trackers(names):
            if name == "tensorboard":
                opened.trackers.append(TensorBoardTracker(run_dir, config, start_step))
            else:
                opened.trackers.append(WandbTracker(run_dir, config))
    except BaseException:
        opened.close()
        raise
    return opened
