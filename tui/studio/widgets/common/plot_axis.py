"""The training plots' shared x axis: steps, tokens seen or training time, with its ticks."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from textual_plotext import Plot

from core import Config
from tui.studio.formatting import format_count, format_duration
from tui.studio.series import Series

AXES = ("steps", "tokens", "time")
LABELS = {"steps": "step", "tokens": "tokens seen", "time": "training time (m:ss)"}
UNITS = {"steps": "steps", "tokens": "tokens", "time": ""}


class XAxis:
    """What the plots' x axis counts. Series keep steps; this maps them to tokens (steps times
    the tokens of one step) or to training seconds (read off the run's own clock)."""

    def __init__(self) -> None:
        self.mode = "steps"
        self.tokens_per_step = 0
        self.clock = Series(1024)  # (step, elapsed seconds) of every step reported

    def reset(self, config: Config | None) -> None:
        """A new run: its tokens per optimizer step, and an empty clock."""
        self.clock.clear()
        if config is not None:
            self.tokens_per_step = self.tokens_of_step(config)

    @staticmethod
    def tokens_of_step(config: Config) -> int:
        """Tokens one optimizer step trains on (on each rank)."""
        return config.batch_size * config.grad_accum * config.block_size

    def add(self, step: int, elapsed: float) -> None:
        self.clock.append(step, elapsed)

    def cycle(self) -> str:
        """The next mode: steps, tokens, time, steps..."""
        self.mode = AXES[(AXES.index(self.mode) + 1) % len(AXES)]
        return self.mode

    @property
    def label(self) -> str:
        return LABELS[self.mode]

    # --- the builder thread -----------------------------------------------------------------
    def map(self, steps: Sequence[float]) -> list[float]:
        """Positions on this axis of the given steps."""
        if self.mode == "tokens":
            return [step * self.tokens_per_step for step in steps]
        if self.mode == "time":
            table = self._clock_table()
            return [_interpolate(table, step) for step in steps]
        return list(steps)

    def _clock_table(self) -> tuple[list[float], list[float]]:
        envelope = self.clock.envelope(self.clock.capacity)
        steps, seconds = list(envelope.xs), list(envelope.means)
        if not steps or steps[0] > 0:  # a fresh run's clock starts at step 0, second 0
            steps, seconds = [0.0, *steps], [0.0, *seconds]
        return steps, seconds

    def ticks(
        self, plt: Plot, low: float, high: float, count: int, unit: bool, mapped: bool = False
    ) -> None:
        """About `count` ticks between the steps `low` and `high` (`mapped`: positions already
        on this axis, as another run's own tokens or clock give them); `unit` names the axis on
        the last tick (for a figure too short for a label row)."""
        count = max(2, count)
        if self.mode == "steps":
            first, last = max(0, round(low)), max(1, round(high))
            positions = sorted(
                {first + round(i * (last - first) / (count - 1)) for i in range(count)}
            )
            labels = [str(step) for step in positions]
        else:
            start, end = (low, high) if mapped else self.map([low, high])
            positions = [start + i * (end - start) / (count - 1) for i in range(count)]
            write = format_count if self.mode == "tokens" else format_duration
            labels = [write(value) for value in positions]
        if unit and UNITS[self.mode]:
            labels[-1] = f"{labels[-1]} {UNITS[self.mode]}"
        plt.xticks(positions, labels)


def _interpolate(table: tuple[list[float], list[float]], step: float) -> float:
    """Seconds at `step`, linear between the clock's points and beyond its last one."""
    steps, seconds = table
    if len(steps) == 1:
        return seconds[0]
    index = min(max(1, bisect.bisect_left(steps, step)), len(steps) - 1)
    x0, x1 = steps[index - 1], steps[index]
    y0, y1 = seconds[index - 1], seconds[index]
    if x1 <= x0:
        return y1
    return y0 + (y1 - y0) * (step - x0) / (x1 - x0)
