"""Past runs drawn over the Train loss plot: each in its own colour, smoothed as the plot is,
placed on its own steps, tokens or clock, and labelled where its loss is not comparable."""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field

from rich.text import Text

from core import LossCurves, RunSummary
from tui.studio.series import Envelope, Smoother, reduce_points
from tui.studio.widgets.common.plot_axis import XAxis

OVERLAY_COLORS = (  # none of them the plot's own grey, blue, orange or red
    ("violet", (170, 130, 230)),
    ("pink", (240, 110, 180)),
    ("green", (110, 210, 130)),
    ("yellow", (230, 220, 90)),
    ("tan", (205, 150, 100)),
    ("white", (235, 235, 235)),
)
MAX_OVERLAYS = len(OVERLAY_COLORS)
WHOLE = (-math.inf, math.inf)


@dataclass(frozen=True)
class OverlayRun:
    """A past run's curves and what makes its loss comparable, as plain values."""

    key: str  # its folder and name: a race's variants share their folder
    label: str
    steps: tuple[int, ...]
    losses: tuple[float, ...]
    val_steps: tuple[int, ...] = ()
    val_losses: tuple[float, ...] = ()
    elapsed: tuple[float, ...] = ()  # training seconds at each of `steps`, when it logged them
    tokens_per_step: int | None = None
    vocab_size: int | None = None
    corpus: str | None = None  # the sha256 of the text it trained on


def overlay_key(summary: RunSummary) -> str:
    return f"{summary.path}\n{summary.name}"


def overlay_run(summary: RunSummary, curves: LossCurves) -> OverlayRun:
    """The overlay of a run (or a race's variant) listed on the Runs screen."""
    label = f"{summary.path.name}/{summary.name}" if summary.kind == "variant" else summary.name
    config = summary.config
    return OverlayRun(
        key=overlay_key(summary),
        label=label,
        steps=curves.steps,
        losses=curves.losses,
        val_steps=curves.val_steps,
        val_losses=curves.val_losses,
        elapsed=curves.elapsed,
        tokens_per_step=XAxis.tokens_of_step(config) if config is not None else None,
        vocab_size=summary.vocab_size,
        corpus=summary.corpus_sha256,
    )


def marked_cell(cell: Text, overlay: Overlay | None) -> Text:
    """A run's name in a table, with a mark in its overlay's colour when it is drawn."""
    if overlay is None:
        return cell
    return Text.assemble(cell, (" ⣿", "rgb({},{},{})".format(*overlay.color)))


def incomparable(run: OverlayRun, vocab_size: int | None, corpus: str | None) -> str | None:
    """Why the run's nats are not the plotted run's yardstick (None: they are, or unknown)."""
    reasons = []
    if run.vocab_size is not None and vocab_size is not None and run.vocab_size != vocab_size:
        reasons.append(f"V={run.vocab_size}, not {vocab_size}")
    if run.corpus is not None and corpus is not None and run.corpus != corpus:
        reasons.append("another corpus")
    return f"{', '.join(reasons)}: not comparable" if reasons else None


@dataclass(frozen=True)
class OverlayCurve:
    """One overlay as a figure draws it: its smoothed loss and validation points, placed."""

    overlay: Overlay
    line: Envelope
    val_xs: tuple[float, ...]
    val_ys: tuple[float, ...]


@dataclass
class Overlay:
    """A run drawn over the plot, in its colour; smoothed again when the plot's weight changes."""

    run: OverlayRun
    color_name: str
    color: tuple[int, int, int]
    # (smoothed losses, whole-run reductions by (axis, width)), replaced whole so that the
    # builder thread never pairs one weight's curve with another's reduction
    state: tuple[tuple[float, ...], dict] = ((), {})
    _positions: dict = field(default_factory=dict)

    def smooth(self, weight: float) -> None:
        smoother = Smoother(weight)
        self.state = (tuple(smoother.update(loss) for loss in self.run.losses), {})

    def positions(self, mode: str) -> tuple[list[float], list[float]] | None:
        """x of each step and each evaluation on an axis of steps, tokens or time, by this
        run's own tokens per step and clock; None where the run cannot say (no clock logged)."""
        if mode not in self._positions:
            self._positions[mode] = self._place(mode)
        return self._positions[mode]

    def _place(self, mode: str) -> tuple[list[float], list[float]] | None:
        run = self.run
        if mode == "tokens":
            if not run.tokens_per_step:
                return None
            scale = run.tokens_per_step
            return [s * scale for s in run.steps], [s * scale for s in run.val_steps]
        if mode == "time":
            if not run.steps or len(run.elapsed) != len(run.steps):
                return None
            last = len(run.steps) - 1
            val = [run.elapsed[min(bisect.bisect_left(run.steps, s), last)] for s in run.val_steps]
            return list(run.elapsed), val
        return [float(s) for s in run.steps], [float(s) for s in run.val_steps]

    def curve(self, mode: str, low: float, high: float, width: int) -> OverlayCurve | None:
        """Its points between two x positions, at most `width` columns (builder thread)."""
        placed = self.positions(mode)
        if placed is None:
            return None
        xs, val_xs = placed
        smoothed, reductions = self.state
        if (low, high) == WHOLE:
            line = reductions.get((mode, width))
            if line is None:
                line = reductions[mode, width] = reduce_points(xs, smoothed, width)
        else:
            first, end = bisect.bisect_left(xs, low), bisect.bisect_right(xs, high)
            line = reduce_points(xs[first:end], smoothed[first:end], width)
        val = [(x, y) for x, y in zip(val_xs, self.run.val_losses, strict=True) if low <= x <= high]
        return OverlayCurve(self, line, tuple(x for x, _ in val), tuple(y for _, y in val))


class Overlays:
    """The runs drawn over the plot, in the order they were marked; each keeps its colour."""

    def __init__(self) -> None:
        self.smoothing = 0.95
        self._items: list[Overlay] = []
        self._lock = threading.Lock()

    @property
    def items(self) -> tuple[Overlay, ...]:
        with self._lock:
            return tuple(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Overlay | None:
        return next((item for item in self.items if item.run.key == key), None)

    def add(self, run: OverlayRun) -> Overlay:
        """Draw the run in the first colour no other overlay has; ValueError when all are used."""
        used = {item.color_name for item in self.items}
        free = [(name, rgb) for name, rgb in OVERLAY_COLORS if name not in used]
        if not free:
            raise ValueError(f"{MAX_OVERLAYS} runs are drawn already; remove one first")
        overlay = Overlay(run, *free[0])
        overlay.smooth(self.smoothing)
        with self._lock:
            self._items.append(overlay)
        return overlay

    def remove(self, key: str) -> Overlay | None:
        with self._lock:
            found = next((item for item in self._items if item.run.key == key), None)
            if found is not None:
                self._items.remove(found)
        return found

    def clear(self) -> int:
        with self._lock:
            count, self._items = len(self._items), []
        return count

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = weight
        for item in self.items:
            item.smooth(weight)

    def extent(self, mode: str, window: int | None) -> tuple[float, float] | None:
        """The x range the overlays span, or with a window, the window's steps at the end of
        the longest of them (what the plot shows while it has no run of its own)."""
        spans = []
        for item in self.items:
            placed = item.positions(mode)
            xs = (placed[0] or placed[1]) if placed is not None else []
            steps = item.run.steps or item.run.val_steps
            if xs:
                spans.append((steps[-1], xs, steps))
        if not spans:
            return None
        if window is None:
            return min(xs[0] for _, xs, _ in spans), max(xs[-1] for _, xs, _ in spans)
        last, xs, steps = max(spans, key=lambda span: span[1][-1])
        first = bisect.bisect_left(steps, last - window + 1)
        return xs[min(first, len(xs) - 1)], xs[-1]

    def curves(self, mode: str, low: float, high: float, width: int) -> list[OverlayCurve]:
        """Every overlay that has a place on this axis, between two x positions."""
        found = (item.curve(mode, low, high, width) for item in self.items)
        return [curve for curve in found if curve is not None]
