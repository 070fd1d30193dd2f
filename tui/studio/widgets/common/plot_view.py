"""What the training plots show beside their x axis: y linear or logarithmic, the whole run or
its last N steps; and where a logarithmic axis puts its ticks."""

from __future__ import annotations

import math

WINDOWS = (None, 2000, 500, 100)  # steps the window key cycles through; None: the whole run
RAW_TAIL = 2048  # raw points a windowed series keeps: at least the widest window, so that no
# window is drawn from buckets that straddle its first step


def window_name(window: int | None, short: bool = False) -> str:
    """`last 500 steps` (short: `last 500`), or the whole run."""
    if window is None:
        return "whole run"
    return f"last {window}" if short else f"last {window} steps"


class PlotView:
    """The y scale and the window of steps that the loss and gradient-norm plots share."""

    def __init__(self) -> None:
        self.log_y = False
        self.window: int | None = None  # the last N steps; None: the whole run

    def toggle_log(self) -> bool:
        self.log_y = not self.log_y
        return self.log_y

    @property
    def next_window(self) -> int | None:
        return WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]

    def cycle_window(self) -> int | None:
        """The next window: the whole run, the last 2000, 500, 100 steps, the whole run..."""
        self.window = self.next_window
        return self.window

    def since(self, last_step: float | None) -> float | None:
        """The first step of the window that ends at `last_step`; None: from the start."""
        if self.window is None or last_step is None:
            return None
        return max(1, last_step - self.window + 1)

    def describe(self, not_drawn: int = 0, short: bool = False) -> str:
        """What is in effect beyond a linear y over the whole run, for a title ('' for none)."""
        parts = []
        if self.log_y:
            parts.append("log" if short else "log y")
            if not_drawn:  # log(y) does not exist there: said, never drawn at a made-up height
                parts[-1] += (
                    f" ({not_drawn} ≤0 left out)"
                    if short
                    else (f" ({not_drawn} values ≤ 0 left out)")
                )
        if self.window is not None:
            parts.append(window_name(self.window, short))
        return " · ".join(parts)


def log_ticks(low: float, high: float, count: int) -> list[float]:
    """At most `count` (at least 2) round values between two positive bounds for a log axis:
    1-2-5 of each decade, else every digit, else evenly spaced in log space."""
    if not 0 < low < high:
        raise ValueError(f"a log axis needs 0 < low < high, got {low} and {high}")
    count = max(2, count)
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for multipliers in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [
            m * 10.0**exponent
            for exponent in decades
            for m in multipliers
            if low <= m * 10.0**exponent <= high
        ]
        if len(ticks) >= 2:
            if len(ticks) > count:  # keep every k-th, the first and last round value included
                step = (len(ticks) - 1) / (count - 1)
                ticks = [ticks[round(i * step)] for i in range(count)]
            return ticks
    ratio = high / low
    return [low * ratio ** (i / (count - 1)) for i in range(count)]
