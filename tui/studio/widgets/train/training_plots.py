"""The Train screen's plots of a run (loss, gradient norm, learning rate) and its samples log,
fed the run's StepMetrics; their figures are built by a thread of this widget."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.worker import get_current_worker

from core import Config, StepMetrics
from tui.studio.widgets.common.plot_axis import XAxis
from tui.studio.widgets.common.plots import GradNormPlot, LearningRatePlot, LossPlot, PlotBuilder
from tui.studio.widgets.train.sample_log import SampleLog


class TrainingPlots(Vertical):
    """Loss, gradient norm and learning rate over the run, and a sample at each evaluation."""

    def __init__(self, id: str = "train-plots") -> None:
        super().__init__(id=id)
        self.builder: PlotBuilder | None = None
        self.axis = XAxis()  # one x axis for the three plots: steps, tokens or time
        self._plots: tuple[LossPlot, GradNormPlot, LearningRatePlot] | None = None

    def compose(self) -> ComposeResult:
        yield LossPlot(id="loss-plot")
        with Horizontal(id="small-plots"):
            yield GradNormPlot(id="grad-plot")
            yield LearningRatePlot(id="lr-plot")
        yield SampleLog()

    def on_mount(self) -> None:
        for plot in self.plots():
            plot.axis = self.axis
        self.builder = PlotBuilder(list(self.plots()))
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

    def reset(self, config: Config | None, vocab_size: int | None = None) -> None:
        """Empty plots for a new run (or a reloaded log) of `config`."""
        loss, grad, rate = self.plots()
        self.axis.reset(config)
        loss.reset(vocab_size)
        grad.reset(config.grad_clip if config is not None else 0.0)
        rate.reset(config)

    def describe(self, config: Config, vocab_size: int | None) -> None:
        """The plotted run's settings, learnt after its steps (a watched run's checkpoint)."""
        loss, grad, rate = self.plots()
        self.axis.tokens_per_step = XAxis.tokens_of_step(config)
        loss.vocab_size, rate.config = vocab_size, config
        grad.clip = grad.run_clip = config.grad_clip
        for plot in (loss, grad, rate):
            plot.changed()
            plot.show_labels()

    def add(self, metrics: StepMetrics) -> None:
        loss, grad, rate = self.plots()
        self.axis.add(metrics.step, metrics.elapsed)
        loss.add(metrics.step, metrics.loss, metrics.val_loss)
        grad.add(metrics.step, metrics.grad_norm, metrics.clipped)
        rate.add(metrics.step, metrics.lr)

    def cycle_axis(self) -> str:
        """Steps, tokens, time: the x axis of every plot, rebuilt at once."""
        mode = self.axis.cycle()
        for plot in self.plots():
            plot.changed()
        if self.builder is not None:
            self.builder.rebuild_now()
        return mode

    def set_clip(self, clip: float) -> None:
        """The grad-clip threshold the next run will use, drawn while none trains."""
        self.query_one(GradNormPlot).set_clip(clip)

    def wake(self) -> None:
        """New data arrived: let the builder look for figures to rebuild."""
        if self.builder is not None:
            self.builder.wake.set()
