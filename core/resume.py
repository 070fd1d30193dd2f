"""Continuing a saved run exactly where it stopped: `TrainingSession.from_checkpoint`, kept
here so the loop's own file holds the loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.checkpoint.run_folder import METRICS_FILE, RunLock, check_resume_corpus, trim_metrics
from core.checkpoint.store import CheckpointError, load_checkpoint
from core.child import distributed

if TYPE_CHECKING:
    from core.trainer import TrainingSession


def from_checkpoint(
    cls: type[TrainingSession],
    directory: str | Path,
    text: str,
    device: torch.device | str | None = None,
    max_steps: int | None = None,
    out_dir: str | Path | None = None,
    allow_other_corpus: bool = False,
    run_lock: RunLock | None = None,
    progress: Callable[[int, int], None] | None = None,
    recalibrate_precision: bool = False,
    grad_accum: int | None = None,
) -> TrainingSession:
    """Continue a saved run exactly where it stopped (same data order, RNG and moments).

    A corpus other than the one the checkpoint was trained on is refused unless
    `allow_other_corpus`; the run folder's metrics log is trimmed back to the checkpoint.
    Each rank continues its own data stream (see core.child.distributed.restore_rng): exactly
    the saved run when the world size is the same.
    """
    checkpoint = load_checkpoint(directory)
    if checkpoint.optimizer_state is None or "data" not in checkpoint.rng_state:
        raise CheckpointError(f"{directory} holds weights only; it cannot resume training")
    changes = {"max_steps": max_steps, "grad_accum": grad_accum}
    config = replace(checkpoint.config, **{k: v for k, v in changes.items() if v is not None})
    check_resume_corpus(checkpoint, text, allow_other_corpus)
    settings = {"run_lock": run_lock, "recalibrate_precision": recalibrate_precision}
    out, tokenizer = out_dir or directory, checkpoint.tokenizer
    session = cls(config, text, device, out, tokenizer=tokenizer, progress=progress, **settings)
    session.model.load_state_dict(checkpoint.model_state)
    session.optimizer.load_state_dict(checkpoint.optimizer_state)
    session.step = checkpoint.step
    session.elapsed_before = float(checkpoint.extra.get("elapsed", 0.0))
    session.corpus_name = checkpoint.extra.get("corpus_name")
    session.best.restore(checkpoint.extra)
    session.idle_streams = distributed.restore_rng(
        checkpoint.rng_state, session.ranks, session.data_generator
    )
    session.last_checkpoint = Path(directory)
    session._saved_step = checkpoint.step
    if session.out_dir is not None and session.ranks.is_main:
        session.lock()  # before the trim: never cut the log of a run that is still going
        trim_metrics(session.out_dir / METRICS_FILE, checkpoint.step)
    return session
