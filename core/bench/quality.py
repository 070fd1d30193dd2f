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
class ReferenceRun:
    """A whole training run timed as a user would pay it: the yardstick for time to quality."""

    steps: int
    seconds: float  # its setup and its own steps, evaluations and samples included
    val_loss: float | None  # the run's own last evaluation


@dataclass(frozen=True)
class QualityResult:
    """A training run's validation loss against wall time, up to a target loss."""

    target: float
    setup_seconds: float  # building the session: tokenizing the corpus, the model
    curve: tuple[QualityPoint, ...]
    reference: ReferenceRun | None = None

    @property
    def reached(self) -> QualityPoint | None:
        """The first point at or below the target, if the run got there."""
        return next((point for point in self.curve if point.val_loss <= self.target), None)


class _ReferenceSide:
    """The reference run, trained in slices between the measured run's own."""

    def __init__(self, config: Config, text: str, device: torch.device) -> None:
        started = time.perf_counter()
        self.session = TrainingSession(config, text, device)
        self.seconds = time.perf_counter() - started
        self.events = self.session.steps()
        self.val_loss: float | None = None
        self.done = False

    def run(self, seconds: float) -> None:
        """Train for about `seconds` of wall time, or to the end of the run."""
        end = time.perf_counter() + seconds
        while not self.done and time.perf_counter() < end:
            started = time.perf_counter()
            metrics = next(self.events, None)
            self.seconds += time.perf_counter() - started
            if metrics is None:
                self.done = True
            elif metrics.val_loss is not None:
                self.val_loss = metrics.val_loss

    def result(self) -> ReferenceRun:
        return ReferenceRun(self.session.step, self.seconds, self.val_loss)


def bench_time_to_quality(
    config: Config,
    text: str,
    target: float,
    eval_every: int,
    max_seconds: float,
    eval_tokens: int | None = None,
    device: torch.device | str | None = None,
    on_point: Callable[[QualityPoint], None] | None = None,
    reference: Config | None = None,
    slice_seconds: float = 1.0,
) -> QualityResult:
    """Train `config` with the real loop until the validation loss reaches `target`.

    The clock runs from building the session and includes the run's own evaluations and
    samples (as a user's run pays them). Every `eval_every` steps the curve gets a point from
    an evaluation over about `eval_tokens` held-out tokens (default: the run's own
    eval_batches), taken off the clock. Stops at the target or after `max_seconds`.

    With `reference`, that config also trains its whole schedule, with its own evaluations and
    samples and no checkpoint (nanoGPT's CPU recipe runs this way: 2,000 iterations, an
    evaluation every 250), in slices of `slice_seconds` that alternate with the measured
    run's, so a machine whose speed drifts slows both alike until the target is reached; the
    rest of it then runs alone. Each side's clock counts its own setup and slices only.
    """
    if eval_every < 1 or max_seconds <= 0 or slice_seconds <= 0:
        raise ValueError(
            f"need eval_every >= 1, max_seconds > 0 and slice_seconds > 0; got {eval_every}, "
            f"{max_seconds}, {slice_seconds}"
        )
    device = resolve_device(device)
    tokens_per_batch = config.batch_size * config.block_size
    batches = max(1, round(eval_tokens / tokens_per_batch)) if eval_tokens else None
    started = time.perf_counter()
    session = TrainingSession(config, text, device)
    setup_seconds = clock = time.perf_counter() - started
    # built second, the reference skips the process's one-time costs (torch's first
    # operations) that the measured run's setup paid: in the reference's favour
    other = _ReferenceSide(reference, text, device) if reference is not None else None
    curve: list[QualityPoint] = []
    events = session.steps()
    slice_end = time.perf_counter() + slice_seconds
    try:
        while True:
            step_started = time.perf_counter()
            metrics = next(events, None)
            clock += time.perf_counter() - step_started
            if metrics is None:
                break
            if metrics.step % eval_every == 0 or metrics.step >= config.max_steps:
                val_loss = session.evaluate(batches)  # off the clock
                point = QualityPoint(metrics.step, clock, val_loss)
                curve.append(point)
                if on_point is not None:
                    on_point(point)
                if val_loss <= target or point.seconds >= max_seconds:
                    break
            if other is not None and time.perf_counter() >= slice_end:
                other.run(slice_seconds)
                slice_end = time.perf_counter() + slice_seconds
        if other is None:
            return QualityResult(target, setup_seconds, tuple(curve))
        other.run(float("inf"))
        return QualityResult(target, setup_seconds, tuple(curve), other.result())
    finally:
        events.close()
        if other is not None:
            other.events.close()  # ends its loop (and its lock) even when this run failed
