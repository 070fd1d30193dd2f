"""Training plots whose figures are built by a background thread, never in `render()`."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.message import Message
from textual_plotext import Plot, PlotextPlot

from core import Config, learning_rate_at
from tui.studio.series import Series, Smoother

SERIES_CAPACITY = 1024  # buckets kept per series; the figure reduces them to its width
MIN_BUILD_INTERVAL = 1.0  # seconds between rebuilds of one plot while data streams in

RAW_COLOR = (110, 110, 130)
SMOOTH_COLOR = (80, 200, 255)
VAL_COLOR = (255, 170, 0)
REFERENCE_COLOR = (220, 80, 80)
LR_COLOR = (150, 220, 120)
RAW, SMOOTH, VAL, REFERENCE, LR = (
    "rgb({},{},{})".format(*color)
    for color in (RAW_COLOR, SMOOTH_COLOR, VAL_COLOR, REFERENCE_COLOR, LR_COLOR)
)


@dataclass(frozen=True)
class BuildRequest:
    """What the builder thread needs, captured on the UI thread."""

    width: int
    height: int
    theme: str
    version: int


class MetricPlot(PlotextPlot):
    """A plotext figure that a `PlotBuilder` thread rebuilds; `render()` shows the last build."""

    title = ""
    placeholder = "waiting for the first step"

    @dataclass
    class Built(Message):
        plot: MetricPlot
        text: Text
        request: BuildRequest

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data_version = 0  # bumped on every change to the data
        self.built_request: BuildRequest | None = None
        self._figure_text: Text | None = None
        self._target_size = (0, 0)
        self._plot_theme = "textual-auto-textual-dark"

    # --- UI thread --------------------------------------------------------------------------
    def on_mount(self) -> None:
        super().on_mount()
        self.border_title = self.title
        self.border_subtitle = self.legend()

    def render(self) -> Text:
        if self._figure_text is None:
            return Text(self.placeholder, style="dim")
        return self._figure_text

    def legend(self) -> str:
        """Content markup for the border's subtitle: what each colour means."""
        return ""

    def on_resize(self) -> None:
        self._target_size = (self.size.width, self.size.height)
        self._plot_theme = self._get_plotext_theme_name(self.app.theme)
        self.changed()

    def changed(self) -> None:
        """The data or size changed: ask for a rebuild."""
        self.data_version += 1

    @on(Built)
    def show_build(self, message: Built) -> None:
        message.stop()
        self._figure_text = message.text
        self.built_request = message.request
        self.border_subtitle = self.legend()
        self.refresh()

    # --- either thread ----------------------------------------------------------------------
    @property
    def has_data(self) -> bool:
        return False

    def build_request(self) -> BuildRequest | None:
        """A request if a rebuild is due (plain attributes only: safe from the builder)."""
        width, height = self._target_size
        if width < 10 or height < 4 or not self.has_data:
            return None
        if self.built_request is not None and self.built_request.version == self.data_version:
            return None
        return BuildRequest(width, height, self._plot_theme, self.data_version)

    # --- builder thread ---------------------------------------------------------------------
    def build(self, plt: Plot, request: BuildRequest) -> Text:
        plt.clear_figure()
        plt.plotsize(request.width, request.height)
        plt._set_size(request.width, request.height)  # textual-plotext's resize work-around
        plt.theme(request.theme)
        self.draw(plt, request.width)
        return Text.from_ansi(plt.build())

    @staticmethod
    def step_ticks(plt: Plot, last_step: float, count: int = 5) -> None:
        """Whole-number step ticks: steps are counted, not measured."""
        last = max(1, int(last_step))
        ticks = sorted({1 + round(i * (last - 1) / (count - 1)) for i in range(count)})
        plt.xticks(ticks, [str(t) for t in ticks])

    def draw(self, plt: Plot, width: int) -> None:
        """Plot this widget's series; every concrete plot below defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define draw()")


class LossPlot(MetricPlot):
    """Training loss (raw min/max band and smoothed line), validation points, ln(V) reference."""

    title = "Loss: cross-entropy of the next token (nats)"
    placeholder = "the loss of every step appears here; the red line is ln(vocab_size)"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.losses = Series(SERIES_CAPACITY)
        self.smoothed = Series(SERIES_CAPACITY)
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.vocab_size: int | None = None
        self._smoother = Smoother()
        self._lock = threading.Lock()

    def reset(self, vocab_size: int | None) -> None:
        self.losses.clear()
        self.smoothed.clear()
        self._smoother.reset()
        with self._lock:
            self.val_steps, self.val_losses = [], []
        self.vocab_size = vocab_size
        self.changed()

    def add(self, step: int, loss: float, val_loss: float | None = None) -> None:
        self.losses.append(step, loss)
        self.smoothed.append(step, self._smoother.update(loss))
        if val_loss is not None:
            with self._lock:
                self.val_steps.append(step)
                self.val_losses.append(val_loss)
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.losses.count > 0

    def legend(self) -> str:
        parts = [
            f"[{RAW}]⣿ train min/max[/]",
            f"[{SMOOTH}]⣿ smoothed[/]",
            f"[{VAL}]● validation[/]",
        ]
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
        plt.plot(raw.xs, raw.highs, marker="braille", color=RAW_COLOR)
        plt.plot(raw.xs, raw.lows, marker="braille", color=RAW_COLOR)
        plt.plot(smooth.xs, smooth.means, marker="braille", color=SMOOTH_COLOR)
        if val_steps:
            plt.scatter(val_steps, val_losses, marker="●", color=VAL_COLOR)
        self.step_ticks(plt, raw.xs[-1])
        top = max(max(raw.highs), self.vocab_size and math.log(self.vocab_size) or 0)
        plt.ylim(max(0.0, min(raw.lows + tuple(val_losses)) - 0.1), top + 0.1)


class GradNormPlot(MetricPlot):
    """Gradient norm before clipping, the clip threshold, and the steps that were clipped."""

    title = "Gradient norm before clipping"
    placeholder = "the gradient norm of every step, with the clip threshold"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.norms = Series(SERIES_CAPACITY)
        self.clip = 0.0
        self.clipped = 0

    def reset(self, clip: float) -> None:
        self.norms.clear()
        self.clip = clip
        self.clipped = 0
        self.changed()

    def add(self, step: int, grad_norm: float, clipped: bool) -> None:
        self.norms.append(step, grad_norm, mark=clipped)
        self.clipped += clipped
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.norms.count > 0

    def draw(self, plt: Plot, width: int) -> None:
        envelope = self.norms.envelope(width)
        if self.clip > 0:
            plt.hline(self.clip, color=REFERENCE_COLOR)
        plt.plot(envelope.xs, envelope.highs, marker="braille", color=SMOOTH_COLOR)
        columns = zip(envelope.xs, envelope.highs, envelope.marks, strict=True)
        clipped = [(x, y) for x, y, marks in columns if marks]
        if clipped:
            xs, ys = zip(*clipped, strict=True)
            plt.scatter(xs, ys, marker="x", color=REFERENCE_COLOR)
        plt.ylim(0, max(max(envelope.highs), self.clip) * 1.1)
        self.step_ticks(plt, envelope.xs[-1], 3)

    def legend(self) -> str:
        if self.clip <= 0:
            return f"[{SMOOTH}]⣿ norm[/] · clipping off"
        share = 100 * self.clipped / max(1, self.norms.count)
        return (
            f"[{SMOOTH}]⣿ norm[/] [{REFERENCE}]─ clip {self.clip:g}  x clipped "
            f"{self.clipped}/{self.norms.count} ({share:.0f}%)[/]"
        )


class LearningRatePlot(MetricPlot):
    """The learning rate each step used, over the whole planned schedule."""

    title = "Learning rate (AdamW)"
    placeholder = "the learning rate of every step: linear warm-up, then cosine decay"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
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

    def draw(self, plt: Plot, width: int) -> None:
        config = self.config
        envelope = self.rates.envelope(width)
        if config is not None:
            points = max(2, min(width * 2, config.max_steps))
            steps = [round(i * (config.max_steps - 1) / (points - 1)) for i in range(points)]
            plan = [learning_rate_at(s, config) for s in steps]
            plt.plot([s + 1 for s in steps], plan, marker="braille", color=RAW_COLOR)
        plt.plot(envelope.xs, envelope.means, marker="braille", color=LR_COLOR)
        self.step_ticks(plt, config.max_steps if config else envelope.xs[-1], 3)

    def legend(self) -> str:
        config = self.config
        if config is None:
            return ""
        return (
            f"[{LR}]⣿ used[/] [{RAW}]⣿ plan: warm-up {config.warmup_steps}, cosine to "
            f"{config.min_lr_ratio:g}x[/]"
        )


class PlotBuilder:
    """Rebuilds some plots' figures on the calling (worker) thread, each at most once a second."""

    def __init__(self, plots: list[MetricPlot]) -> None:
        self.plots = plots
        self.wake = threading.Event()
        self._figures = {id(plot): Plot() for plot in plots}
        self._last_build = {id(plot): 0.0 for plot in plots}

    def run(self, cancelled) -> None:
        """Loop until `cancelled()`; each plot is rebuilt at most every MIN_BUILD_INTERVAL."""
        while not cancelled():
            self.wake.wait(0.1)
            self.wake.clear()
            self.build_due(cancelled)

    def build_due(self, cancelled=lambda: False, force: bool = False) -> int:
        built = 0
        for plot in self.plots:
            if cancelled():
                break
            request = plot.build_request()
            if request is None:
                continue
            now = time.monotonic()
            previous = plot.built_request
            first = previous is None or (previous.width, previous.height) != (
                request.width,
                request.height,
            )
            if not (force or first) and now - self._last_build[id(plot)] < MIN_BUILD_INTERVAL:
                continue
            self._last_build[id(plot)] = now
            text = plot.build(self._figures[id(plot)], request)
            plot.post_message(MetricPlot.Built(plot, text, request))
            built += 1
        return built
