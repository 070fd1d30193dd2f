"""The training plots: loss (its own module, with the runs drawn over it), gradient norm and
learning rate of a run, step by step."""

from __future__ import annotations

from textual_plotext import Plot

from core import Config, learning_rate_at
from tui.studio.series import Series
from tui.studio.widgets.common.loss_plot import LossPlot
from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plot_figure import MetricPlot, PlotBuilder
from tui.studio.widgets.common.plot_style import (
    LR,
    LR_COLOR,
    NOW,
    NOW_COLOR,
    RAW,
    RAW_COLOR,
    REFERENCE,
    REFERENCE_COLOR,
    SERIES_CAPACITY,
    SMOOTH,
    SMOOTH_COLOR,
    SMOOTHING_WEIGHTS,
    VAL,
    VAL_COLOR,
    smoothing_label,
)
from tui.studio.widgets.common.plot_view import RAW_TAIL

__all__ = [
    "SERIES_CAPACITY",
    "SMOOTH",
    "SMOOTH_COLOR",
    "SMOOTHING_WEIGHTS",
    "VAL",
    "VAL_COLOR",
    "GradNormPlot",
    "LearningRatePlot",
    "LossPlot",
    "MetricPlot",
    "PlotBuilder",
    "smoothing_label",
]

WINDOW_SHARE = 0.05  # of the planned steps, the learning-rate plot shows around now
WINDOW_MIN_STEPS = 20


class GradNormPlot(MetricPlot):
    """Gradient norm before clipping, the clip threshold, and the steps that were clipped."""

    title = "Gradient norm before clipping"
    placeholder = "the gradient norm of every step, with the clip threshold"
    y_label = "grad norm"
    short_title = "norm"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = XAxis()
        self.norms = Series(SERIES_CAPACITY, tail=RAW_TAIL)
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
        """The last step's norm before clipping, the threshold it is clipped at, and the view
        in effect (log y, a window)."""
        clip = f"clip {self.clip:g}" if self.clip > 0 else "clipping off"
        if self.norms.last is None:
            return self.with_view((f"{self.title} ({clip})", f"Grad norm ({clip})"))
        step, norm = self.norms.last
        return self.with_view(
            (
                f"Grad norm {norm:.3g} ({clip}) @ step {step}",
                f"Grad norm {norm:.3g} ({clip})",
                f"norm {norm:.2g} ({clip})",
            )
        )

    def draw(self, plt: Plot, width: int) -> None:
        last = self.norms.last
        since = self.view.since(last[0]) if self.view is not None and last else None
        envelope = self.norms.envelope(width, since)
        self.not_drawn = envelope.nonpositive if self.log_y else 0
        xs = self.x(envelope.xs)
        if self.clip > 0:
            plt.hline(self.y_at(self.clip), color=REFERENCE_COLOR)
        plt.plot(*self.points(xs, envelope.highs), marker="braille", color=SMOOTH_COLOR)
        columns = zip(xs, envelope.highs, envelope.marks, strict=True)
        clipped = [(x, y) for x, y, marks in columns if marks]
        if clipped:
            clipped_xs, clipped_ys = zip(*clipped, strict=True)
            plt.scatter(*self.points(clipped_xs, clipped_ys), marker="x", color=REFERENCE_COLOR)
        mark = self.clip if self.clip > 0 else None
        top = max(max(envelope.highs, default=0), self.clip)
        if self.log_y:  # the smallest positive norm shown sets the floor; the clip stays in view
            positive = [y for y in envelope.highs + (self.clip,) if y > 0] or [1.0]
            self.y_range(plt, min(positive) / 1.1, max(positive) * 1.1, mark, digits=2)
        else:
            self.y_range(plt, 0, top * 1.1 or 1.0, mark, digits=2)
        self.x_ticks(plt, since or 1, last[0] if last else 1, 3)

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
