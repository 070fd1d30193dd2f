"""Timing helpers the benches share: device syncs, percentiles and interleaved medians."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile(values: list[float] | tuple[float, ...], fraction: float) -> float:
    """The value below which `fraction` of the values lie (linear interpolation)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def interleaved_ms(
    runs: dict[object, Callable[[], object]],
    device: torch.device,
    seconds: float,
    min_rounds: int = 5,
) -> dict[object, float]:
    """Median wall time in ms of each run, taking turns round by round.

    Each round calls every run once, so a burst of other load lands on all of them alike
    instead of on whichever was being timed when it came.
    """
    for run in runs.values():
        run()
    synchronize(device)
    times: dict[object, list[float]] = {key: [] for key in runs}
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        for key, run in runs.items():
            started = time.perf_counter()
            run()
            synchronize(device)
            times[key].append(time.perf_counter() - started)
        rounds += 1
    return {key: statistics.median(values) * 1000 for key, values in times.items()}
