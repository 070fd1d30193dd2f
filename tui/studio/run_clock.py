"""A training run's pace, read from its StepMetrics: tokens per second, ETA, totals at the end;
and the status line that shows it."""

from __future__ import annotations

from rich.text import Text

from core import Config, StepMetrics, TrainingFinished, TrainingStarted
from tui.studio.formatting import format_count, format_duration
from tui.studio.messages import TrainState
from tui.studio.series import Smoother
from tui.studio.widgets.train.training import StatusBar

VAL_STYLE = "rgb(255,170,0)"


class RunClock:
    """Smoothed tokens/s and the time left while a run trains; its total time and mean tokens/s
    (evaluations and saves included) once it has ended."""

    def __init__(self) -> None:
        self.rate = Smoother(0.9)
        self.reset()

    def reset(self, config: Config | None = None) -> None:
        """A new run, of `config` (whose batch tells the tokens of one step)."""
        self.rate.reset()
        self.first: tuple[int, float] | None = None  # (step, elapsed) of the first event seen
        self.last: StepMetrics | None = None
        self.tokens_per_step = (
            config.batch_size * config.block_size * config.grad_accum if config else None
        )

    def add(self, metrics: StepMetrics) -> None:
        self.rate.update(metrics.tokens_per_second)
        if self.first is None:
            self.first = (metrics.step, metrics.elapsed)
        self.last = metrics

    def eta(self, metrics: StepMetrics) -> float | None:
        """Seconds until max_steps at the pace seen so far; None before two steps."""
        if self.first is None:
            return None
        first_step, first_elapsed = self.first
        done = metrics.step - first_step
        if done <= 0:
            return None
        per_step = (metrics.elapsed - first_elapsed) / done
        return per_step * (metrics.max_steps - metrics.step)

    @property
    def mean_rate(self) -> float:
        """Tokens trained on per second of the run seen (the smoothed rate before two steps)."""
        if self.first is None or self.last is None or not self.tokens_per_step:
            return self.rate.value
        first_step, first_elapsed = self.first
        seconds = self.last.elapsed - first_elapsed
        if seconds <= 0:
            return self.rate.value
        return (self.last.step - first_step) * self.tokens_per_step / seconds


def run_status(
    state: TrainState,
    metrics: StepMetrics | None,
    val_loss: float | None,
    clock: RunClock,
    started: TrainingStarted | None,
    finished: TrainingFinished | None,
    planned_steps: int | None,
    shown_loss: tuple[float | None, str] | None = None,
) -> tuple[Text, tuple[Text, ...]]:
    """The status line, and the parts that follow it where the line has room: while a run
    trains, its pace and time left; once it has ended, its total time and mean tokens/s.
    `shown_loss` is the training loss as the loss plot shows it, and how it is smoothed."""
    text = StatusBar.state_text(state, stopped=finished is not None and finished.stopped)
    optional: list[Text] = []
    if metrics is not None:
        text.append(f" step {metrics.step}/{metrics.max_steps}", style="bold")
        loss, how = (
            shown_loss if shown_loss and shown_loss[0] is not None else (metrics.loss, "raw")
        )
        text.append(f"  loss {loss:.3f}")
        if how != "raw":
            text.append(f" ({how})", style="dim")
        if val_loss is not None:
            text.append(f"  val {val_loss:.3f}", style=VAL_STYLE)
        if state.active:
            text.append(f"  {format_count(clock.rate.value)} tok/s")
            if state is not TrainState.STOPPING:
                text.append(f"  ETA {format_duration(clock.eta(metrics))}")
            optional.append(Text(f"  elapsed {format_duration(metrics.elapsed)}"))
        else:
            text.append(f"  total {format_duration(metrics.elapsed)}")
            text.append(f" at {format_count(clock.mean_rate)} tok/s")
    elif planned_steps is not None:
        text.append(f" 0/{planned_steps} steps", style="dim")
    if started is not None:
        threads = f"{started.threads} thread{'s' if started.threads > 1 else ''}"
        optional.append(Text(f"  {started.device} × {threads}", style="dim"))
        optional.append(Text(f"  {format_count(started.num_parameters)} params", style="dim"))
    return text, tuple(optional)
