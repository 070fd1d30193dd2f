"""Plots whose figures are built by a background thread, never in `render()`: the figure
widget and the thread's loop."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.message import Message
from textual_plotext import Plot, PlotextPlot

from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plot_view import PlotView, log_ticks

MIN_BUILD_INTERVAL = 1.0  # seconds between rebuilds of one plot while data streams in
LABEL_ROWS = 12  # a figure this tall keeps plotext's frame and a row for the axis labels


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
    y_label = ""  # what the y axis measures, in the label row of a tall enough figure
    short_title = ""  # the plot in a word, for a border too narrow for its values and view

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
        self.axis: XAxis | None = None  # steps, tokens or time; None: the plot draws its own
        self.view: PlotView | None = None  # log y and a window of steps; None: neither
        self.not_drawn = 0  # values <= 0 the last build left off a log scale (builder thread)
        self.figure_rows = self.figure_columns = 0  # the figure being built (builder thread)

    # --- UI thread --------------------------------------------------------------------------
    def on_mount(self) -> None:
        super().on_mount()
        self.show_labels()

    def headings(self) -> tuple[str, ...]:
        """The border's title from the most to the least said: what is plotted, and its latest
        values once there are some."""
        return (self.title,)

    def with_view(self, headings: tuple[str, ...]) -> tuple[str, ...]:
        """The headings, each saying what the view puts in effect (log y, a window), in full
        and then in short for a narrow border."""
        view = self.view
        if view is None or not view.describe():
            return headings
        full, short = view.describe(self.not_drawn), view.describe(self.not_drawn, short=True)
        # the view is never the part cut off: a narrow border drops the values first
        last = (f"{self.short_title} · {short}",) if self.short_title else ()
        return (
            tuple(f"{text} · {full}" for text in headings)
            + tuple(f"{text} · {short}" for text in headings[-2:])
            + last
            + (short,)
        )

    def heading(self) -> str:
        """The longest of the headings that fits the border (before a layout: the shortest)."""
        options = self.headings()
        room = self.size.width - 6
        return next((text for text in options if len(text) <= room), options[-1])

    def show_labels(self) -> None:
        """Title and legend as the data stand now."""
        self.border_title = self.heading()
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
        self.show_labels()

    def changed(self) -> None:
        """The data or size changed: ask for a rebuild. Emptied (a new run), the placeholder
        shows again at once: never the figure of the run before."""
        self.data_version += 1
        if not self.has_data and self._figure_text is not None:
            self._figure_text = None
            if self.is_mounted:
                self.show_labels()
                self.refresh()

    @on(Built)
    def show_build(self, message: Built) -> None:
        message.stop()
        self._figure_text = message.text
        self.built_request = message.request
        self.show_labels()
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
        self.figure_rows, self.figure_columns = request.height, request.width
        roomy = request.height >= LABEL_ROWS
        if self.axis is not None:
            plt.frame(roomy)  # a short figure keeps its rows for data; the border frames it
        self.draw(plt, request.width)
        if self.axis is not None and roomy:
            plt.xlabel(self.axis.label)
            plt.ylabel(self.y_label)
        return Text.from_ansi(plt.build())

    def x(self, steps) -> list[float]:
        """Positions of steps on the x axis (steps, tokens or seconds)."""
        return self.axis.map(steps) if self.axis is not None else list(steps)

    @property
    def log_y(self) -> bool:
        return self.view is not None and self.view.log_y

    def y_at(self, value: float) -> float:
        """Where a positive value (a reference line) sits on the y axis."""
        return math.log10(value) if self.log_y else value

    def points(self, xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
        """Points as the y axis places them: on a log scale, log10 of each y, and the points
        at or below zero left out (counted by the caller from the data, not the columns)."""
        if not self.log_y:
            return list(xs), list(ys)
        kept = [(x, math.log10(y)) for x, y in zip(xs, ys, strict=True) if y > 0]
        return [x for x, _ in kept], [y for _, y in kept]

    def y_range(
        self, plt: Plot, low: float, high: float, mark: float | None = None, digits: int = 3
    ) -> None:
        """The y axis from `low` to `high`, evenly ticked (round values on a log scale, where
        both must be positive), with a tick at `mark` (a threshold or reference line) so that
        the line drawn there reads as its value."""
        high = high if high > low else low * (1 + 1e-9) + 1e-9
        rows = max(2, self.figure_rows - (3 if self.figure_rows >= LABEL_ROWS else 1))
        count = max(2, min(5, rows // 2))
        if self.log_y:
            values = log_ticks(low, high, count)
            to_axis = math.log10
        else:
            values = [low + i * (high - low) / (count - 1) for i in range(count)]
            to_axis = float
        plt.ylim(to_axis(low), to_axis(high))
        if mark is not None and low <= mark <= high:
            row = (to_axis(high) - to_axis(low)) / rows  # nearer than a row: the mark's row
            values = [v for v in values if abs(to_axis(v) - to_axis(mark)) >= row] + [mark]
        values.sort()
        labels = [f"{v:.{digits}g}" for v in values]
        while len(set(labels)) < len(labels) and digits < 6:  # a narrow range needs more digits
            digits += 1
            labels = [f"{v:.{digits}g}" for v in values]
        plt.yticks([to_axis(v) for v in values], labels)

    def x_ticks(
        self, plt: Plot, low: float, high: float, count: int = 5, mapped: bool = False
    ) -> None:
        """Ticks on the x axis between two steps (`mapped`: two positions already on the
        axis); a short figure names the unit on the last."""
        if self.axis is None:
            self.step_ticks(plt, high, count)
        else:
            count = max(2, min(count, self.figure_columns // 14))  # room for "12.3k tokens"
            # a short figure names the unit on its last tick, where a wide one has room for it
            unit = self.figure_rows < LABEL_ROWS and self.figure_columns >= 40
            self.axis.ticks(plt, low, high, count, unit=unit, mapped=mapped)

    @staticmethod
    def step_ticks(plt: Plot, last_step: float, count: int = 5) -> None:
        """Whole-number step ticks: steps are counted, not measured."""
        last = max(1, int(last_step))
        ticks = sorted({1 + round(i * (last - 1) / (count - 1)) for i in range(count)})
        plt.xticks(ticks, [str(t) for t in ticks])

    def draw(self, plt: Plot, width: int) -> None:
        """Plot this widget's series; every concrete plot below defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define draw()")


class PlotBuilder:
    """Rebuilds some plots' figures on the calling (worker) thread, each at most once a second."""

    def __init__(self, plots: list[MetricPlot]) -> None:
        self.plots = plots
        self.wake = threading.Event()
        self._figures = {id(plot): Plot() for plot in plots}
        self._last_build = {id(plot): 0.0 for plot in plots}
        self.urgent = False  # the next pass rebuilds what changed at once (a key was pressed)

    def run(self, cancelled) -> None:
        """Loop until `cancelled()`; each plot is rebuilt at most every MIN_BUILD_INTERVAL."""
        while not cancelled():
            self.wake.wait(0.1)
            self.wake.clear()
            urgent, self.urgent = self.urgent, False
            self.build_due(cancelled, force=urgent)

    def rebuild_now(self) -> None:
        """Rebuild every changed figure on the next pass, however recent its last build."""
        self.urgent = True
        self.wake.set()

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
            try:
                plot.post_message(MetricPlot.Built(plot, text, request))
            except RuntimeError:  # NoActiveAppError: the app closed during the build
                break
            built += 1
        return built
