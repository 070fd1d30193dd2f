"""Time to quality: wall seconds until a real training run's validation loss reaches a target."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.config import Config
from core.device import resolve_device
from core.trainer import TrainingSession


@dataclass(frozen=True)
class QualityPoint:
    step: int
    seconds: float  # wall time since the session was built, the bench's own evaluations excluded
    val_loss: float


@dataclass(frozen=True)
class QualityResult:
    """A training run's validation loss against wall time, up to a target loss."""

    target: float
    setup_seconds: float  # building the session: tokenizing the corpus, the model
    curve: tuple[QualityPoint, ...]

    @property
    def reached(self) -> QualityPoint | None:
        """The first point at or below the target, if the run got there."""
        return next((point for point in self.curve if point.val_loss <= self.target), None)


def bench_time_to_quality(
    config: Config,
    text: str,
    target: float,
    eval_every: int,
    max_seconds: float,
    eval_tokens: int | None = None,
    device: torch.device | str | None = None,
    on_point: Callable[[QualityPoint], None] | None = None,
) -> QualityResult:
    """Train `config` with the real loop until the validation loss reaches `target`.

    The clock runs from building the session and includes the run's own evaluations and
    samples (as a user's run pays them). Every `eval_every` steps the curve gets a point from
    an evaluation over about `eval_tokens` held-out tokens (default: the run's own
    eval_batches), taken off the clock. Stops at the target or after `max_seconds`.
    """
    if eval_every < 1 or max_seconds <= 0:
        raise ValueError(
            f"need eval_every >= 1 and max_seconds > 0; got {eval_every}, {max_seconds}"
        )
    tokens_per_batch = config.batch_size * config.block_size
    batches = max(1, round(eval_tokens / tokens_per_batch)) if eval_tokens else None
    started = time.perf_counter()
    session = TrainingSession(config, text, resolve_device(device))
    setup_seconds = time.perf_counter() - started
    off_clock = 0.0
    curve: list[QualityPoint] = []
    events = session.steps()
    try:
        for metrics in events:
            if metrics.step % eval_every and metrics.step < config.max_steps:
                continue
            evaluating = time.perf_counter()
            val_loss = session.evaluate(batches)
            now = time.perf_counter()
            off_clock += now - evaluating
            point = QualityPoint(metrics.step, now - started - off_clock, val_loss)
            curve.append(point)
            if on_point is not None:
                on_point(point)
            if val_loss <= target or point.seconds >= max_seconds:
                break
    finally:
        events.close()
    return QualityResult(target, setup_seconds, tuple(curve))
