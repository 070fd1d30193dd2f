"""The best evaluation of a run: its lowest validation loss, the evaluations since, the copy of
its weights kept in `best/` (--keep-best), and whether to stop early (--early-stop N)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from core.checkpoint.store import save_checkpoint
from core.config import Config
from core.tokenizer import Tokenizer

BEST_FOLDER = "best"  # inside the run folder: a weights-only checkpoint, loadable as any other


class BestEvaluation:
    """Follows a run's validation losses; restored from a checkpoint's extra on resume, so the
    count of evaluations without a new best goes on where it stopped."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loss: float | None = None
        self.step: int | None = None
        self.since = 0  # evaluations since the best one

    def restore(self, extra: dict) -> None:
        loss, step, since = extra.get("best_val"), extra.get("best_step"), extra.get("since_best")
        if isinstance(loss, float) and math.isfinite(loss) and isinstance(step, int):
            self.loss, self.step = loss, step
            self.since = since if isinstance(since, int) and since >= 0 else 0

    def state(self) -> dict:
        """What a checkpoint's extra records of it."""
        return {"best_val": self.loss, "best_step": self.step, "since_best": self.since}

    def update(self, step: int, val_loss: float) -> bool:
        """One evaluation; True when it is a new best."""
        if self.loss is None or val_loss < self.loss:
            self.loss, self.step, self.since = val_loss, step, 0
            return True
        self.since += 1
        return False

    @property
    def exhausted(self) -> bool:
        """--early-stop N evaluations have passed without a new best."""
        return 0 < self.config.early_stop <= self.since

    def keep(
        self, out_dir: Path, model: torch.nn.Module, tokenizer: Tokenizer, extra: dict
    ) -> Path:
        """Save the weights of the new best into out_dir/best (weights only, atomically)."""
        folder = out_dir / BEST_FOLDER
        extra = {**extra, "val_loss": self.loss}
        save_checkpoint(folder, model, tokenizer, self.config, self.step or 0, extra=extra)
        return folder

    def reason(self) -> str:
        """Why the run stopped early, in one line."""
        return (
            f"no new best validation loss in {self.since} evaluations; the best was "
            f"{self.loss:.4f} at step {self.step}"
        )
