"""The Train screen's loss plot: the run's raw band, smoothed curve and validation points, the
ln(V) reference, and the past runs marked on the Runs screen drawn over it."""

from __future__ import annotations

import math
import threading
from array import array

from textual.markup import escape
from textual_plotext import Plot

from tui.studio.overlays import WHOLE, Overlay, Overlays, incomparable
from tui.studio.series import Series, Smoother
from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plot_figure import MetricPlot
from tui.studio.widgets.common.plot_style import (
    RAW,
    RAW_COLOR,
    REFERENCE,
    REFERENCE_COLOR,
    SERIES_CAPACITY,
    SMOOTH,
    SMOOTH_COLOR,
    VAL,
    VAL_COLOR,
    smoothing_label,
)
from tui.studio.widgets.common.plot_view import RAW_TAIL

NOT_PLACED = {  # why an overlay has no place on an axis
    "tokens": "its shape is unknown: not on a tokens axis",
    "time": "it logged no clock: not on a time axis",
}


class LossPlot(MetricPlot):
    """Training loss (raw min/max band and smoothed line), validation points, ln(V) reference,
    and past runs marked on the Runs screen drawn over it."""

    title = "Loss: cross-entropy of the next token (nats)"
    placeholder = "the loss of every step appears here; the red line is ln(vocab_size)"
    y_label = "loss (nats)"
    short_title = "Loss"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = XAxis()
        self.losses = Series(SERIES_CAPACITY, tail=RAW_TAIL)
        self.smoothed = Series(SERIES_CAPACITY, tail=RAW_TAIL)
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.vocab_size: int | None = None
        self.corpus: str | None = None  # the plotted run's corpus fingerprint, when known
        self.smoothing = 0.95
        self._smoother = Smoother(self.smoothing)
        # every step's loss, to smooth again at will: 16 bytes a step, not a tuple's ~100
        self._raw_steps, self._raw_losses = array("q"), array("d")
        self._lock = threading.Lock()
        self.overlays = Overlays()  # past runs, kept across resets: to compare the next run

    def overlay_note(self, overlay: Overlay) -> str | None:
        """Why an overlay's loss does not compare with the plotted run's (with no run plotted:
        with the first overlay's)."""
        if self.vocab_size is not None:
            return incomparable(overlay.run, self.vocab_size, self.corpus)
        first = self.overlays.items[:1]
        return (
            incomparable(overlay.run, first[0].run.vocab_size, first[0].run.corpus)
            if (first)
            else None
        )

    def overlay_legend(self, mode: str) -> tuple[str, ...]:
        """Markup naming each overlay in its colour, from the most to the least said: what
        happens to them when a run starts, the key that clears them, and why one does not
        compare or is not drawn on this axis."""
        full, short = [], []
        for overlay in self.overlays.items:
            color = "rgb({},{},{})".format(*overlay.color)
            note = self.overlay_note(overlay)
            missing = NOT_PLACED[mode] if overlay.positions(mode) is None else None
            said = "; ".join(text for text in (note, missing) if text)
            label = escape(overlay.run.label)
            full.append(f"[{color}]⣿○ {label}{f' ({said})' if said else ''}[/]")
            brief = "not drawn" if missing else "not comparable" if note else ""
            short.append(f"[{color}]⣿ {label}{f' ({brief})' if brief else ''}[/]")
        full_items, short_items = "  ".join(full), "  ".join(short)
        return (
            f"[b]overlays[/] [dim](kept when a run starts · o clears · g on Runs adds)[/]"
            f"  {full_items}",
            f"[b]overlays[/] [dim](kept for new runs · o clears)[/]  {full_items}",
            f"[b]overlays[/] [dim](o clears)[/]  {full_items}",
            f"[b]overlays[/] [dim](o clears)[/]  {short_items}",
            f"[b]overlays[/] {short_items}",
        )

    def set_smoothing(self, weight: float) -> None:
        """Smooth the curve (and the title's value) with this weight, the whole run again, and
        every overlay with it."""
        self.smoothing = weight
        self._smoother = Smoother(weight)
        self.smoothed.clear()
        for step, loss in zip(self._raw_steps, self._raw_losses, strict=True):
            self.smoothed.append(step, self._smoother.update(loss))
        self.overlays.set_smoothing(weight)
        self.changed()

    @property
    def smoothed_loss(self) -> float | None:
        """The training loss as the title shows it (smoothed with the plot's weight)."""
        last = self.smoothed.last
        return None if last is None else last[1]

    def reset(self, vocab_size: int | None, corpus: str | None = None) -> None:
        self.losses.clear()
        self.smoothed.clear()
        del self._raw_steps[:], self._raw_losses[:]
        self._smoother.reset()
        with self._lock:
            self.val_steps, self.val_losses = [], []
        self.vocab_size, self.corpus = vocab_size, corpus
        self.changed()

    def add(self, step: int, loss: float, val_loss: float | None = None) -> None:
        self.losses.append(step, loss)
        self._raw_steps.append(step)
        self._raw_losses.append(loss)
        self.smoothed.append(step, self._smoother.update(loss))
        if val_loss is not None:
            with self._lock:
                self.val_steps.append(step)
                self.val_losses.append(val_loss)
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.losses.count > 0 or len(self.overlays) > 0

    def headings(self) -> tuple[str, ...]:
        """The smoothed training loss and the last validation loss, with their steps, and the
        view in effect (log y, a window)."""
        return self.with_view(self._headings())

    def _headings(self) -> tuple[str, ...]:
        last = self.smoothed.last
        if last is None:
            return self.title, "Loss (nats)"
        step, train = last
        how = smoothing_label(self.smoothing)
        with self._lock:
            val = (self.val_steps[-1], self.val_losses[-1]) if self.val_steps else None
        if val is None:
            return (
                f"Loss (nats) · train {train:.3f} ({how}) @ step {step}",
                f"Loss {train:.2f} @ {step}",
            )
        if val[0] == step:
            return (
                f"Loss (nats) · train {train:.3f} ({how})  val {val[1]:.3f} @ step {step}",
                f"Loss · train {train:.2f}  val {val[1]:.2f} @ {step}",
            )
        return (
            f"Loss (nats) · train {train:.3f} ({how}) @ step {step}  val {val[1]:.3f} @ {val[0]}",
            f"Loss · train {train:.2f} @ {step}  val {val[1]:.2f} @ {val[0]}",
            f"Loss {train:.2f} @ {step}  val {val[1]:.2f}",
        )

    def legend(self) -> str:
        parts = [
            f"[{RAW}]⣿ train min/max[/]",
            f"[{SMOOTH}]⣿ {smoothing_label(self.smoothing)} (m)[/]",
            f"[{VAL}]● validation[/]",
        ]
        if self.vocab_size:
            uniform = math.log(self.vocab_size)
            parts.append(
                f"[{REFERENCE}]─ ln(V={self.vocab_size}) = {uniform:.2f}: a uniform guess[/]"
            )
        return " ".join(parts)

    def x_range(self) -> tuple[float | None, float, float]:
        """The window's first step (None: the whole run) and the x range shown: the run's,
        stretched over the overlays on the whole run; with no run, the overlays' own."""
        view, mode = self.view, self.axis.mode
        window = view.window if view is not None else None
        last = self.losses.last
        if last is None:
            extent = self.overlays.extent(mode, window) or (0.0, 1.0)
            return None, extent[0], extent[1]
        since = view.since(last[0]) if view is not None else None
        low, high = self.x([since or 1, last[0]])
        extent = self.overlays.extent(mode, None) if since is None else None
        if extent is not None:
            low, high = min(low, extent[0]), max(high, extent[1])
        return since, low, high

    def draw(self, plt: Plot, width: int) -> None:
        since, x_low, x_high = self.x_range()
        raw = self.losses.envelope(width, since)
        smooth = self.smoothed.envelope(width, since)
        with self._lock:
            val = list(zip(self.val_steps, self.val_losses, strict=True))
        val = [(s, v) for s, v in val if since is None or s >= since]
        bounds = WHOLE if since is None and self.losses.count else (x_low, x_high)
        curves = self.overlays.curves(self.axis.mode, *bounds, width)
        values = list(raw.lows + raw.highs) + [v for _, v in val]
        for curve in curves:
            rgb = curve.overlay.color
            plt.plot(*self.points(curve.line.xs, curve.line.means), marker="braille", color=rgb)
            if curve.val_xs:
                plt.scatter(*self.points(curve.val_xs, curve.val_ys), marker="○", color=rgb)
            values += list(curve.line.means + curve.val_ys)
        xs = self.x(raw.xs)
        plt.plot(*self.points(xs, raw.highs), marker="braille", color=RAW_COLOR)
        plt.plot(*self.points(xs, raw.lows), marker="braille", color=RAW_COLOR)
        plt.plot(*self.points(xs, smooth.means), marker="braille", color=SMOOTH_COLOR)
        if val:
            val_xs = self.x([step for step, _ in val])
            plt.scatter(*self.points(val_xs, [v for _, v in val]), marker="●", color=VAL_COLOR)
        self.not_drawn = raw.nonpositive + sum(v <= 0 for _, v in val) if self.log_y else 0
        uniform = math.log(self.vocab_size) if self.vocab_size else None
        zoomed = self.view is not None and self.view.window is not None  # overlays alone too
        if uniform is not None and not zoomed:
            values.append(uniform)  # a whole run starts there: keep it in sight
        self.loss_range(plt, values, uniform, zoomed)
        if x_high > x_low:
            plt.xlim(x_low, x_high)
        self.x_ticks(plt, x_low, x_high, mapped=True)

    def loss_range(
        self, plt: Plot, values: list[float], uniform: float | None, zoomed: bool
    ) -> None:
        """The y axis over the values drawn: from 0 on the whole run, tight to a window's
        values, and on a log scale from the smallest positive value."""
        if self.log_y:
            values = [v for v in values if v > 0]
        if not values:
            values = [uniform or 1.0]
        low, high = min(values), max(values)
        if self.log_y:
            pad = (high / low) ** 0.03 if high > low else 1.1
            low, high = low / pad, high * pad
        elif zoomed:
            pad = max((high - low) * 0.05, 1e-3)
            low, high = max(0.0, low - pad), high + pad
        else:
            low, high = max(0.0, low - 0.1), high + 0.1
        if uniform is not None and low <= uniform <= high:
            plt.hline(self.y_at(uniform), color=REFERENCE_COLOR)
        self.y_range(plt, low, high, uniform)
