"""A plot series that keeps a bounded min/mean/max summary of any number of points, and the
last few raw points for a window that must not blur its edge."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Envelope:
    """A series reduced to at most `width` columns: x, and y's mean, low and high per column."""

    xs: tuple[float, ...]
    means: tuple[float, ...]
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    marks: tuple[int, ...]  # flagged points per column (e.g. clipped steps)
    nonpositive: int = 0  # points at or below zero, which a log scale cannot place


def reduce_points(
    xs: Sequence[float],
    ys: Sequence[float],
    width: int,
    marks: Sequence[bool] | None = None,
) -> Envelope:
    """Consecutive points in at most `width` columns, each column exactly their mean/min/max."""
    if not xs:
        return Envelope((), (), (), (), ())
    group = max(1, math.ceil(len(xs) / max(1, width)))
    columns: tuple[list, list, list, list, list] = ([], [], [], [], [])
    for start in range(0, len(xs), group):
        chunk = ys[start : start + group]
        columns[0].append((xs[start] + xs[min(start + group, len(xs)) - 1]) / 2)
        columns[1].append(sum(chunk) / len(chunk))
        columns[2].append(min(chunk))
        columns[3].append(max(chunk))
        columns[4].append(sum(marks[start : start + group]) if marks is not None else 0)
    nonpositive = sum(y <= 0 for y in ys)
    return Envelope(*(tuple(column) for column in columns), nonpositive=nonpositive)


class Series:
    """Points (x, y) summarised in at most `capacity` buckets of equal size, and the last `tail`
    points as they came.

    When the buckets are full, neighbours merge pairwise and the bucket size doubles, so memory
    and redraw cost stay bounded on long runs while min/max keep every spike visible. A bucket
    may straddle any x a window starts at, so a window is drawn from the raw tail (see
    `envelope`). Appends come from the UI thread and reads from the plot builder's thread, hence
    the lock.
    """

    def __init__(self, capacity: int = 1024, tail: int = 0) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 2, got {capacity}")
        self.capacity = capacity
        self.count = 0  # points received, every one of them
        self.last: tuple[float, float] | None = None
        self._bucket_size = 1
        # per bucket: first x, last x, sum, count, min, max, marks, points <= 0
        self._buckets: list[list[float]] = []
        self._tail: deque[tuple[float, float, bool]] = deque(maxlen=max(0, tail))
        self._lock = threading.Lock()

    def append(self, x: float, y: float, mark: bool = False) -> None:
        if not math.isfinite(y):
            return
        with self._lock:
            self.count += 1
            self.last = (x, y)
            if self._tail.maxlen:
                self._tail.append((x, y, mark))
            if self._buckets and self._buckets[-1][3] < self._bucket_size:
                bucket = self._buckets[-1]
                bucket[1] = x
                bucket[2] += y
                bucket[3] += 1
                bucket[4] = min(bucket[4], y)
                bucket[5] = max(bucket[5], y)
                bucket[6] += mark
                bucket[7] += y <= 0
                return
            if len(self._buckets) == self.capacity:
                self._merge_pairs()
            self._buckets.append([x, x, y, 1, y, y, int(mark), int(y <= 0)])

    def _merge_pairs(self) -> None:
        merged = []
        for a, b in zip(self._buckets[0::2], self._buckets[1::2], strict=True):
            merged.append([a[0], b[1], a[2] + b[2], a[3] + b[3], min(a[4], b[4]), max(a[5], b[5])])
            merged[-1] += [a[6] + b[6], a[7] + b[7]]
        self._buckets = merged
        self._bucket_size *= 2

    def __len__(self) -> int:
        return self.count

    def envelope(self, width: int, since: float | None = None) -> Envelope:
        """At most `width` columns, each the mean/min/max of consecutive buckets; with `since`,
        of the points at x >= since only.

        A window is drawn from the raw tail when the tail reaches back to `since` (or holds every
        point): each column is then exact. Otherwise only the buckets that begin at or after
        `since` are used, never one that straddles the edge, so no column mixes in a point from
        before the window; the window then starts a little after `since`.
        """
        points = None
        with self._lock:
            tail = self._tail
            if since is not None and tail and (tail[0][0] <= since or len(tail) == self.count):
                points = [point for point in tail if point[0] >= since]
            else:
                buckets = [list(b) for b in self._buckets if since is None or b[0] >= since]
        if points is not None:
            xs, ys, marks = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
            return reduce_points(xs, ys, width, marks)
        if not buckets:
            return Envelope((), (), (), (), ())
        group = max(1, math.ceil(len(buckets) / max(1, width)))
        xs, means, lows, highs, marks = [], [], [], [], []
        for start in range(0, len(buckets), group):
            chunk = buckets[start : start + group]
            total = sum(b[2] for b in chunk)
            count = sum(b[3] for b in chunk)
            xs.append((chunk[0][0] + chunk[-1][1]) / 2)
            means.append(total / count)
            lows.append(min(b[4] for b in chunk))
            highs.append(max(b[5] for b in chunk))
            marks.append(sum(b[6] for b in chunk))
        nonpositive = int(sum(b[7] for b in buckets))
        return Envelope(
            tuple(xs), tuple(means), tuple(lows), tuple(highs), tuple(marks), nonpositive
        )

    def clear(self) -> None:
        with self._lock:
            self.count = 0
            self.last = None
            self._bucket_size = 1
            self._buckets = []
            self._tail.clear()


class Smoother:
    """Exponential moving average with bias correction, as TensorBoard smooths loss curves."""

    def __init__(self, weight: float = 0.95) -> None:
        self.weight = weight
        self._average = 0.0
        self._steps = 0

    def update(self, value: float) -> float:
        if not math.isfinite(value):
            return self.value
        self._steps += 1
        self._average = self.weight * self._average + (1 - self.weight) * value
        return self.value

    @property
    def value(self) -> float:
        if self._steps == 0:
            return float("nan")
        return self._average / (1 - self.weight**self._steps)

    def reset(self) -> None:
        self._average, self._steps = 0.0, 0
