"""The training plots: loss, gradient norm and learning rate of a run, step by step."""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Sequence

from textual.markup import escape
from textual_plotext import Plot

from core import Config, learning_rate_at
from tui.studio.series import Series, Smoother
from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plot_figure import MetricPlot, PlotBuilder

__all__ = ["GradNormPlot", "LearningRatePlot", "LossPlot", "MetricPlot", "PlotBuilder"]

SERIES_CAPACITY = 1024  # buckets kept per series; the figure reduces them to its width
WINDOW_SHARE = 0.05  # of the planned steps, the learning-rate plot shows around now
WINDOW_MIN_STEPS = 20

RAW_COLOR = (110, 110, 130)
SMOOTH_COLOR = (80, 200, 255)
VAL_COLOR = (255, 170, 0)
REFERENCE_COLOR = (220, 80, 80)
LR_COLOR = (150, 220, 120)
GHOST_COLOR = (150, 120, 190)  # a past run drawn beside the current one, faintly
NOW_COLOR = (230, 230, 230)
RAW, SMOOTH, VAL, REFERENCE, LR, GHOST, NOW = (
    "rgb({},{},{})".format(*color)
    for color in (
        RAW_COLOR,
        SMOOTH_COLOR,
        VAL_COLOR,
        REFERENCE_COLOR,
        LR_COLOR,
        GHOST_COLOR,
        NOW_COLOR,
    )
)


SMOOTHING_WEIGHTS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)  # 0: the raw loss, as TensorBoard's slider


def smoothing_label(weight: float) -> str:
    return "raw" if weight == 0 else f"smoothed {weight:g}"


class LossPlot(MetricPlot):
    """Training loss (raw min/max band and smoothed line), validation points, ln(V) reference."""

    title = "Loss: cross-entropy of the next token (nats)"
    placeholder = "the loss of every step appears here; the red line is ln(vocab_size)"
    y_label = "loss (nats)"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = XAxis()
        self.losses = Series(SERIES_CAPACITY)
        self.smoothed = Series(SERIES_CAPACITY)
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.vocab_size: int | None = None
        self.smoothing = 0.95
        self._smoother = Smoother(self.smoothing)
        # every step's loss, to smooth again at will: 16 bytes a step, not a tuple's ~100
        self._raw_steps, self._raw_losses = array("q"), array("d")
        self._lock = threading.Lock()
        self.ghost_label: str | None = None  # a past run's curve, kept across resets
        self.ghost = Series(SERIES_CAPACITY)  # its smoothed training loss
        self.ghost_val: tuple[tuple[int, ...], tuple[float, ...]] = ((), ())

    def set_ghost(
        self,
        label: str,
        steps: Sequence[int],
        losses: Sequence[float],
        val_steps: Sequence[int] = (),
        val_losses: Sequence[float] = (),
    ) -> None:
        """Draw a past run's loss faintly beside the current run's, until `clear_ghost`."""
        self.ghost.clear()
        smoother = Smoother()
        for step, loss in zip(steps, losses, strict=True):
            self.ghost.append(step, smoother.update(loss))
        with self._lock:
            self.ghost_val = (tuple(val_steps), tuple(val_losses))
        self.ghost_label = label
        self.changed()

    def clear_ghost(self) -> None:
        self.ghost.clear()
        with self._lock:
            self.ghost_val = ((), ())
        self.ghost_label = None
        self.changed()

    def set_smoothing(self, weight: float) -> None:
        """Smooth the curve (and the title's value) with this weight, the whole run again."""
        self.smoothing = weight
        self._smoother = Smoother(weight)
        self.smoothed.clear()
        for step, loss in zip(self._raw_steps, self._raw_losses, strict=True):
            self.smoothed.append(step, self._smoother.update(loss))
        self.changed()

    @property
    def smoothed_loss(self) -> float | None:
        """The training loss as the title shows it (smoothed with the plot's weight)."""
        last = self.smoothed.last
        return None if last is None else last[1]

    def reset(self, vocab_size: int | None) -> None:
        self.losses.clear()
        self.smoothed.clear()
        del self._raw_steps[:], self._raw_losses[:]
        self._smoother.reset()
        with self._lock:
            self.val_steps, self.val_losses = [], []
        self.vocab_size = vocab_size
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
        return self.losses.count > 0 or self.ghost_label is not None

    def headings(self) -> tuple[str, ...]:
        """The smoothed training loss and the last validation loss, with their steps."""
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
        if self.ghost_label is not None:
            parts.append(f"[{GHOST}]⣿○ ghost: {escape(self.ghost_label)}[/]")
        if self.vocab_size:
            uniform = math.log(self.vocab_size)
            parts.append(
                f"[{REFERENCE}]─ ln(V={self.vocab_size}) = {uniform:.2f}: a uniform guess[/]"
            )
        return " ".join(parts)

    def draw(self, plt: Plot, width: int) -> None:
        raw = self.losses.envelope(width)
        smooth = self.smoothed.envelope(width)
        with self._lock:
            val_steps, val_losses = list(self.val_steps), list(self.val_losses)
        if self.vocab_size:
            plt.hline(math.log(self.vocab_size), color=REFERENCE_COLOR)
        ghost = self.ghost.envelope(width)
        with self._lock:
            ghost_steps, ghost_losses = self.ghost_val
        if ghost.xs:
            plt.plot(self.x(ghost.xs), ghost.means, marker="braille", color=GHOST_COLOR)
        if ghost_steps:
            plt.scatter(self.x(ghost_steps), ghost_losses, marker="○", color=GHOST_COLOR)
        plt.plot(self.x(raw.xs), raw.highs, marker="braille", color=RAW_COLOR)
        plt.plot(self.x(raw.xs), raw.lows, marker="braille", color=RAW_COLOR)
        plt.plot(self.x(smooth.xs), smooth.means, marker="braille", color=SMOOTH_COLOR)
        if val_steps:
            plt.scatter(self.x(val_steps), val_losses, marker="●", color=VAL_COLOR)
        self.x_ticks(plt, 1, max(raw.xs[-1:] + ghost.xs[-1:] + ghost_steps[-1:], default=1))
        lows = raw.lows + tuple(val_losses) + ghost.lows + ghost_losses
        highs = raw.highs + ghost.highs + ghost_losses
        uniform = math.log(self.vocab_size) if self.vocab_size else None
        top = max(max(highs, default=0), uniform or 0)
        self.y_range(plt, max(0.0, min(lows, default=0) - 0.1), top + 0.1, uniform)


class GradNormPlot(MetricPlot):
    """Gradient norm before clipping, the clip threshold, and the steps that were clipped."""

    title = "Gradient norm before clipping"
    placeholder = "the gradient norm of every step, with the clip threshold"
    y_label = "grad norm"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = XAxis()
        self.norms = Series(SERIES_CAPACITY)
        self.clip = 0.0  # the threshold drawn: the run's, or the form's while none trains
        self.run_clip: float | None = None  # the threshold the plotted run trained with
        self.clipped = 0

    def reset(self, clip: float) -> None:
        self.norms.clear()
        self.clip = self.run_clip = clip
        self.clipped = 0
        self.changed()
        self.show_labels()

    def set_clip(self, clip: float) -> None:
        """The threshold the next run will use (the form's), drawn while none trains."""
        if clip != self.clip:
            self.clip = clip
            self.changed()
            self.show_labels()

    def add(self, step: int, grad_norm: float, clipped: bool) -> None:
        self.norms.append(step, grad_norm, mark=clipped)
        self.clipped += clipped
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.norms.count > 0

    def headings(self) -> tuple[str, ...]:
        """The last step's norm before clipping, and the threshold it is clipped at."""
        clip = f"clip {self.clip:g}" if self.clip > 0 else "clipping off"
        if self.norms.last is None:
            return f"{self.title} ({clip})", f"Grad norm ({clip})"
        step, norm = self.norms.last
        return (
            f"Grad norm {norm:.3g} ({clip}) @ step {step}",
            f"Grad norm {norm:.3g} ({clip})",
            f"norm {norm:.2g} ({clip})",
        )

    def draw(self, plt: Plot, width: int) -> None:
        envelope = self.norms.envelope(width)
        xs = self.x(envelope.xs)
        if self.clip > 0:
            plt.hline(self.clip, color=REFERENCE_COLOR)
        plt.plot(xs, envelope.highs, marker="braille", color=SMOOTH_COLOR)
        columns = zip(xs, envelope.highs, envelope.marks, strict=True)
        clipped = [(x, y) for x, y, marks in columns if marks]
        if clipped:
            clipped_xs, clipped_ys = zip(*clipped, strict=True)
            plt.scatter(clipped_xs, clipped_ys, marker="x", color=REFERENCE_COLOR)
        top = max(max(envelope.highs), self.clip) * 1.1
        self.y_range(plt, 0, top, self.clip if self.clip > 0 else None, digits=2)
        self.x_ticks(plt, 1, envelope.xs[-1], 3)

    def legend(self) -> str:
        if self.clip <= 0:
            return f"[{SMOOTH}]⣿ norm[/] · clipping off"
        share = 100 * self.clipped / max(1, self.norms.count)
        text = (
            f"[{SMOOTH}]⣿ norm[/] [{REFERENCE}]─ clip {self.clip:g}  x clipped "
            f"{self.clipped}/{self.norms.count} ({share:.0f}%)[/]"
        )
        if self.run_clip is not None and self.norms.count and self.run_clip != self.clip:
            text += f" · this run clipped at {self.run_clip:g}"
        return text


class LearningRatePlot(MetricPlot):
    """The learning rate each step used and the planned schedule, in a window around now."""

    title = "Learning rate (AdamW)"
    placeholder = "the learning rate of every step: linear warm-up, then cosine decay"
    y_label = "learning rate"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = XAxis()
        self.rates = Series(SERIES_CAPACITY)
        self.config: Config | None = None

    def reset(self, config: Config) -> None:
        self.rates.clear()
        self.config = config
        self.changed()

    def add(self, step: int, lr: float) -> None:
        self.rates.append(step, lr)
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.rates.count > 0

    @property
    def now(self) -> int:
        """The last step reported (1 before any)."""
        return int(self.rates.last[0]) if self.rates.last is not None else 1

    def window(self) -> tuple[int, int]:
        """First and last step shown: a twentieth of the plan (at least 20 steps) around now."""
        now = self.now
        total = max(now, self.config.max_steps if self.config is not None else now)
        span = min(total, max(WINDOW_MIN_STEPS, round(total * WINDOW_SHARE)))
        low = min(max(1, now - span // 2), max(1, total - span + 1))
        return low, min(total, low + span - 1)

    def headings(self) -> tuple[str, ...]:
        if self.rates.last is None:
            return self.title, "Learning rate"
        step, lr = self.rates.last
        return f"Learning rate {lr:.2e} @ step {step}", f"LR {lr:.2e} @ {step}", f"LR {lr:.1e}"

    def draw(self, plt: Plot, width: int) -> None:
        config = self.config
        low, high = self.window()
        envelope = self.rates.envelope(self.rates.capacity)
        used = [(x, y) for x, y in zip(envelope.xs, envelope.means, strict=True) if x >= low]
        plan: list[float] = []
        if config is not None:
            points = max(2, min(width * 2, high - low + 1))
            steps = [low + round(i * (high - low) / (points - 1)) for i in range(points)]
            plan = [learning_rate_at(step - 1, config) for step in steps]  # step 1 uses index 0
            plt.plot(self.x(steps), plan, marker="braille", color=RAW_COLOR)
        if used:
            used_xs, used_ys = zip(*used, strict=True)
            plt.plot(self.x(used_xs), used_ys, marker="braille", color=LR_COLOR)
        values = plan + [y for _, y in used]
        if values:
            self.y_range(plt, min(values), max(values), digits=2)
        plt.vline(self.x([self.now])[0], color=NOW_COLOR)
        self.x_ticks(plt, low, high, 3)

    def legend(self) -> str:
        config = self.config
        if config is None:
            return ""
        low, high = self.window()
        return (
            f"[{LR}]⣿ used[/] [{RAW}]⣿ plan[/] [{NOW}]│ now[/] · steps {low}-{high} of "
            f"{config.max_steps} (warm-up {config.warmup_steps}, cosine to "
            f"{config.min_lr_ratio:g}x)"
        )
