"""The Train screen's plots of a run (loss, gradient norm, learning rate), the past runs drawn
over the loss, and its samples log, fed the run's StepMetrics; their figures are built by a
thread of this widget."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.worker import get_current_worker

from core import Config, StepMetrics
from tui.studio.overlays import Overlay, OverlayRun, Overlays
from tui.studio.widgets.common.bars import FitLine
from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plot_view import PlotView
from tui.studio.widgets.common.plots import GradNormPlot, LearningRatePlot, LossPlot, PlotBuilder
from tui.studio.widgets.train.sample_log import SampleLog


class TrainingPlots(Vertical):
    """Loss, gradient norm and learning rate over the run, and a sample at each evaluation."""

    def __init__(self, id: str = "train-plots") -> None:
        super().__init__(id=id)
        self.builder: PlotBuilder | None = None
        self.axis = XAxis()  # one x axis for the three plots: steps, tokens or time
        self.view = PlotView()  # log y and the window, of the loss and grad-norm plots
        self.overlays = Overlays()  # past runs over the loss: kept when a run starts
        self._plots: tuple[LossPlot, GradNormPlot, LearningRatePlot] | None = None

    def compose(self) -> ComposeResult:
        loss = LossPlot(id="loss-plot")
        loss.overlays = self.overlays
        yield loss
        yield FitLine("", id="overlay-legend", wide_lines=2)
        with Horizontal(id="small-plots"):
            yield GradNormPlot(id="grad-plot")
            yield LearningRatePlot(id="lr-plot")
        yield SampleLog()

    def on_mount(self) -> None:
        for plot in self.plots():
            plot.axis = self.axis
        loss, grad, _ = self.plots()  # the learning rate keeps its own window around now
        loss.view = grad.view = self.view
        self.builder = PlotBuilder(list(self.plots()))
        self.show_overlays()
        self.build_plots()

    @work(thread=True, exclusive=True, group="plots", name="plot-builder")
    def build_plots(self) -> None:
        worker = get_current_worker()
        self.builder.run(lambda: worker.is_cancelled)

    def plots(self) -> tuple[LossPlot, GradNormPlot, LearningRatePlot]:
        # found once: three queries a step were half the time of replaying a long log
        if self._plots is None:
            self._plots = (
                self.query_one(LossPlot),
                self.query_one(GradNormPlot),
                self.query_one(LearningRatePlot),
            )
        return self._plots

    @property
    def samples(self) -> SampleLog:
        return self.query_one(SampleLog)

    def reset(
        self, config: Config | None, vocab_size: int | None = None, corpus: str | None = None
    ) -> None:
        """Empty plots for a new run (or a reloaded log) of `config`; the overlays stay, to
        compare the new run against, each judged comparable or not with it."""
        loss, grad, rate = self.plots()
        self.axis.reset(config)
        loss.reset(vocab_size, corpus)
        grad.reset(config.grad_clip if config is not None else 0.0)
        rate.reset(config)
        self.show_overlays()

    def describe(self, config: Config, vocab_size: int | None) -> None:
        """The plotted run's settings, learnt after its steps (a watched run's checkpoint)."""
        loss, grad, rate = self.plots()
        self.axis.tokens_per_step = XAxis.tokens_of_step(config)
        loss.vocab_size, rate.config = vocab_size, config
        grad.clip = grad.run_clip = config.grad_clip
        for plot in (loss, grad, rate):
            plot.changed()
            plot.show_labels()
        self.show_overlays()

    def add(self, metrics: StepMetrics) -> None:
        loss, grad, rate = self.plots()
        self.axis.add(metrics.step, metrics.elapsed)
        loss.add(metrics.step, metrics.loss, metrics.val_loss)
        grad.add(metrics.step, metrics.grad_norm, metrics.clipped)
        rate.add(metrics.step, metrics.lr)

    def cycle_axis(self) -> str:
        """Steps, tokens, time: the x axis of every plot, rebuilt at once."""
        mode = self.axis.cycle()
        self.redraw(*self.plots())
        self.show_overlays()  # an overlay without a clock has no place on a time axis
        return mode

    def toggle_log(self) -> bool:
        """A log or linear y for the loss and the gradient norm, rebuilt at once."""
        log = self.view.toggle_log()
        self.redraw(*self.plots()[:2])
        return log

    def cycle_window(self) -> int | None:
        """The loss and the gradient norm over the whole run, or its last 2000, 500, 100 steps."""
        window = self.view.cycle_window()
        self.redraw(*self.plots()[:2])
        return window

    def set_smoothing(self, weight: float) -> None:
        """Smooth the loss curve and every overlay with this weight."""
        loss = self.plots()[0]
        loss.set_smoothing(weight)
        self.redraw(loss)

    def redraw(self, *plots) -> None:
        for plot in plots:
            plot.changed()
            plot.show_labels()  # the title says what is in effect before the figure comes
        if self.builder is not None:
            self.builder.rebuild_now()

    # --- past runs drawn over the loss ------------------------------------------------------
    def toggle_overlay(self, run: OverlayRun) -> Overlay | None:
        """Draw the run over the loss, or take it off if it is drawn; the overlay drawn, None
        if it was taken off. ValueError when every colour is in use."""
        overlays = self.overlays
        removed = overlays.remove(run.key)
        added = overlays.add(run) if removed is None else None
        self.redraw(self.plots()[0])
        self.show_overlays()
        return added

    def clear_overlays(self) -> int:
        """Take every past run off the loss plot; how many there were."""
        count = self.overlays.clear()
        self.redraw(self.plots()[0])
        self.show_overlays()
        return count

    def show_overlays(self) -> None:
        """The line under the loss plot naming each overlay in its colour, shown while any is."""
        line = self.query_one("#overlay-legend", FitLine)
        loss = self.plots()[0]
        line.display = len(loss.overlays) > 0
        line.show(*loss.overlay_legend(self.axis.mode))

    def set_clip(self, clip: float) -> None:
        """The grad-clip threshold the next run will use, drawn while none trains."""
        self.query_one(GradNormPlot).set_clip(clip)

    def wake(self) -> None:
        """New data arrived: let the builder look for figures to rebuild."""
        if self.builder is not None:
            self.builder.wake.set()
