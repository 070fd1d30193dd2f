"""Training speed: steady-state steps of the real `TrainingSession` loop, variants interleaved."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch

from core.bench.timing import percentile
from core.config import Config
from core.device import resolve_device, set_threads
from core.tokenizer import Tokenizer
from core.trainer import StepMetrics, TrainingSession


@dataclass(frozen=True)
class TrainVariant:
    """One side of a training benchmark: a config and the intra-op threads to run it with."""

    name: str
    config: Config
    threads: int | None = None  # None keeps torch's current setting


@dataclass(frozen=True)
class TrainResult:
    """Step times of one variant, measured after its warm-up."""

    name: str
    precision: str  # "fp32" or "bf16", as chosen for the device and shape
    precision_reason: str  # why, in one line (measured, asked for, or the CPU lacks bf16)
    compile: bool
    threads: int
    parameters: int
    vocab_size: int
    tokens_per_step: int
    flops_per_token: int  # forward + backward, as MiniGPT.flops_per_token counts them
    untimed_seconds: float  # the warm-up steps before timing, compilation included
    step_seconds: tuple[float, ...]  # every measured step, in the order they ran

    @property
    def median_step_ms(self) -> float:
        return statistics.median(self.step_seconds) * 1000

    @property
    def p90_step_ms(self) -> float:
        return percentile(self.step_seconds, 0.9) * 1000

    @property
    def min_step_ms(self) -> float:
        return min(self.step_seconds) * 1000

    @property
    def tokens_per_second(self) -> float:
        """Steady-state throughput: tokens of one step over the median step time."""
        return self.tokens_per_step / statistics.median(self.step_seconds)

    @property
    def achieved_gflops(self) -> float:
        return self.flops_per_token * self.tokens_per_second / 1e9


def _timed_steps(events: Iterator[StepMetrics], count: int) -> list[float]:
    """Seconds between consecutive events, so the loop's own overhead counts too."""
    times = []
    started = time.perf_counter()
    for _ in range(count):
        next(events)
        now = time.perf_counter()
        times.append(now - started)
        started = now
    return times


def bench_training(
    variants: list[TrainVariant],
    text: str,
    steps: int,
    untimed_steps: int,
    block_steps: int = 5,
    device: torch.device | str | None = None,
    tokenizer: Tokenizer | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[TrainResult]:
    """Time `steps` training steps of each variant with the real `TrainingSession` loop.

    Each variant first runs `untimed_steps` warm-up steps (compilation happens there). With
    several variants, the timed steps run in blocks of `block_steps`, alternating sides
    (A B B A ...), so drifts in machine load fall on both sides alike and a ratio of medians
    stays meaningful on a noisy machine.
    """
    if not variants:
        raise ValueError("bench_training needs at least one variant")
    if steps < 1 or untimed_steps < 0 or block_steps < 1:
        raise ValueError(
            f"need steps >= 1, untimed_steps >= 0 and block_steps >= 1; got {steps}, "
            f"{untimed_steps}, {block_steps}"
        )
    device = resolve_device(device)
    previous_threads = set_threads(None)
    total = untimed_steps + steps + 1  # one spare, so the final step's evaluation never runs
    sessions: list[TrainingSession] = []
    for variant in variants:
        config = replace(variant.config, max_steps=total, eval_interval=total, log_interval=1)
        session = TrainingSession(config, text, device, tokenizer=tokenizer)
        tokenizer = tokenizer or session.tokenizer
        sessions.append(session)
    events = [session.steps() for session in sessions]
    threads = [variant.threads or previous_threads for variant in variants]
    untimed_seconds = []
    try:
        for i, variant in enumerate(variants):
            if on_progress is not None:
                on_progress(f"warming up {variant.name} ({untimed_steps} steps)")
            set_threads(threads[i])
            untimed_seconds.append(sum(_timed_steps(events[i], untimed_steps)))
        if on_progress is not None:
            on_progress(f"timing {steps} steps of {', '.join(v.name for v in variants)}")
        times: list[list[float]] = [[] for _ in variants]
        order = list(range(len(variants)))
        while len(times[0]) < steps:
            count = min(block_steps, steps - len(times[0]))
            for i in order:
                set_threads(threads[i])
                times[i].extend(_timed_steps(events[i], count))
            order.reverse()
    finally:
        for stream in events:
            stream.close()
        set_threads(previous_threads)
    return [
        TrainResult(
            name=variant.name,
            precision=session.precision.name,
            precision_reason=session.precision.reason,
            compile=session.config.compile,
            threads=threads[i],
            parameters=session.model.num_parameters(),
            vocab_size=session.tokenizer.vocab_size,
            tokens_per_step=session.config.batch_size * session.config.block_size,
            flops_per_token=session.model.flops_per_token(),
            untimed_seconds=untimed_seconds[i],
            step_seconds=tuple(times[i]),
        )
        for i, (variant, session) in enumerate(zip(variants, sessions, strict=True))
    ]
