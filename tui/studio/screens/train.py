"""The Train screen: the run form, live plots, a status bar and samples from each evaluation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, RichLog
from textual.worker import get_current_worker

from core import (
    CheckpointSaved,
    CommandFailed,
    StepMetrics,
    TrainingFinished,
    TrainingProcess,
    TrainingStarted,
    TrainingState,
    WeightSnapshot,
)
from tui.paths import checkpoints_root
from tui.studio.formatting import format_count, format_duration
from tui.studio.messages import TrainState, WeightSource
from tui.studio.series import Smoother
from tui.studio.widgets.bars import KeyBar, ModeBar
from tui.studio.widgets.plots import GradNormPlot, LearningRatePlot, LossPlot, PlotBuilder
from tui.studio.widgets.training import RunForm, StatusBar
from tui.studio.widgets.training_xray import TrainingXrayView

RELAY_INTERVAL = 0.1  # seconds between batched messages to the UI


class TrainScreen(Screen):
    """Train a model in a child process and watch it learn."""

    BINDINGS = [
        Binding("t", "start", "Start"),
        Binding("p", "pause", "Pause/resume"),
        Binding("x", "stop", "Stop"),
        Binding("s", "save", "Save"),
        Binding("w", "use_weights", "Weights→Generate/Chat"),
        Binding("v", "xray", "X-ray"),
    ]

    @dataclass
    class Progress(Message):
        """Events from the training process, batched about ten times a second."""

        events: tuple

    def __init__(
        self,
        preset: str,
        corpus_path: str,
        corpus_text: str | None = None,
        checkpoints_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(id="train")
        self.preset = preset
        self.corpus_path = corpus_path
        self.corpus_text = corpus_text
        self.checkpoints_dir = checkpoints_dir or checkpoints_root()
        self.threads = threads
        self.process: TrainingProcess | None = None
        self.state = TrainState.IDLE
        self.started: TrainingStarted | None = None
        self.finished: TrainingFinished | None = None
        self.last: StepMetrics | None = None
        self.last_val: float | None = None
        self.last_checkpoint: str | None = None
        self.exit_when_stopped = False
        self._rate = Smoother(0.9)
        self._first_seen: tuple[int, float] | None = None  # (step, elapsed) at the first event
        self._builder: PlotBuilder | None = None
        self._buttons_shown: tuple[TrainState, bool] | None = None  # (state, active) last shown

    def compose(self) -> ComposeResult:
        yield ModeBar("train")
        yield StatusBar("", id="train-status")
        with Horizontal(id="train-body"):
            yield RunForm(self.preset, self.corpus_path if self.corpus_text is None else "")
            with Vertical(id="train-plots"):
                yield LossPlot(id="loss-plot")
                with Horizontal(id="small-plots"):
                    yield GradNormPlot(id="grad-plot")
                    yield LearningRatePlot(id="lr-plot")
                yield RichLog(id="samples", wrap=True, markup=False, max_lines=400, min_width=20)
            yield TrainingXrayView(id="training-xray")
        yield KeyBar()

    def on_mount(self) -> None:
        log = self.query_one("#samples", RichLog)
        log.border_title = "samples at each evaluation (same prompt and seed)"
        # written once the log has a width, so the line wraps instead of being cut
        self.call_after_refresh(
            log.write,
            Text(
                "Press t to train. Every evaluation writes a sample from the same prompt and "
                "seed here, so you can watch the text improve.",
                style="dim",
            ),
        )
        self._builder = PlotBuilder(
            [
                self.query_one(LossPlot),
                self.query_one(GradNormPlot),
                self.query_one(LearningRatePlot),
            ]
        )
        self.build_plots()
        self.update_status()
        self.update_buttons()

    @work(thread=True, exclusive=True, group="plots", name="plot-builder")
    def build_plots(self) -> None:
        worker = get_current_worker()
        self._builder.run(lambda: worker.is_cancelled)

    # --- actions ----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """A training process exists and has not finished."""
        return self.process is not None and self.state.active

    @property
    def done(self) -> bool:
        """The last run has finished or failed (a bench waits for this)."""
        return self.state in (TrainState.FINISHED, TrainState.FAILED)

    def set_steps(self, steps: int) -> None:
        """The form's step count for the next run, as if typed."""
        self.query_one("#steps", Input).value = str(steps)

    def action_start(self) -> None:
        if self.active:
            self.notify("Training is already running; stop it first (x).", severity="warning")
            return
        form = self.query_one(RunForm)
        try:
            config = form.config()
            text, text_path = self.corpus_text, None
            if text is None:
                text_path = form.corpus_path()
                if not Path(text_path).is_file():
                    raise ValueError(f"corpus file {text_path!r} does not exist")
        except ValueError as error:
            form.show_error(str(error))
            return
        form.show_error("")
        out_dir = self.checkpoints_dir / f"studio-{form.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.process = TrainingProcess(
            config, out_dir, text=text, text_path=text_path, threads=self.threads
        )
        self.process.start()
        self.state, self.started, self.finished, self.last = TrainState.STARTING, None, None, None
        self.last_val, self._first_seen = None, None
        self._rate.reset()
        self.query_one(LossPlot).reset(None)
        self.query_one(GradNormPlot).reset(config.grad_clip)
        self.query_one(LearningRatePlot).reset(config)
        self.query_one("#samples", RichLog).write(
            Text(f"starting a {form.preset} run in a child process → {out_dir}", style="dim")
        )
        self.relay(self.process)
        self.update_status()
        self.update_buttons()

    def action_pause(self) -> None:
        if self.process is None or not self.state.steppable:
            return
        if self.state is TrainState.PAUSED:
            self.process.resume_training()
        else:
            self.process.pause()

    def action_stop(self) -> None:
        if self.process is not None and self.active:
            self.process.stop()
            self.state = TrainState.STOPPING
            self.update_status()
            self.update_buttons()

    def action_save(self) -> None:
        if self.process is not None and self.state.steppable:
            self.process.save()
        else:
            self.notify("Nothing is training; finished runs are already saved.")

    def action_use_weights(self) -> None:
        """Copy the training weights into Generate and Chat (a snapshot, or the final save)."""
        if self.process is not None and self.state.steppable:
            self.process.snapshot()
            self.notify("Copying the current weights to Generate and Chat…")
        elif self.last_checkpoint is not None:
            self.app.use_weights(
                WeightSource(
                    f"trained {Path(self.last_checkpoint).name}", checkpoint=self.last_checkpoint
                )
            )
        else:
            self.notify("Train first (t): there are no weights to copy yet.", severity="warning")

    def action_xray(self) -> None:
        """Show the Training X-ray in place of the plots, or the plots again."""
        self.query_one(TrainingXrayView).toggle_on(self)

    def stop_and_exit(self) -> None:
        """Stop training, wait for the checkpoint, then quit the app."""
        self.exit_when_stopped = True
        self.action_stop()
        self.notify("Stopping training and saving a checkpoint… (press q again to quit now)")

    @on(Button.Pressed)
    def button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "start": self.action_start,
            "pause": self.action_pause,
            "stop": self.action_stop,
            "save": self.action_save,
        }
        actions[event.button.id]()

    @on(Input.Submitted)
    def form_submitted(self) -> None:
        self.query_one("#start", Button).focus()

    # --- events from the child --------------------------------------------------------------
    @work(thread=True, exclusive=True, group="training", name="training-relay")
    def relay(self, process: TrainingProcess) -> None:
        worker = get_current_worker()
        pending: list = []
        flushed = time.monotonic()
        while not worker.is_cancelled and process.finished is None:
            events = process.poll(0.05)
            pending.extend(events)
            urgent = any(not isinstance(event, StepMetrics) for event in events)
            if pending and (urgent or time.monotonic() - flushed >= RELAY_INTERVAL):
                self.post_message(self.Progress(tuple(pending)))
                pending, flushed = [], time.monotonic()
        if pending:
            self.post_message(self.Progress(tuple(pending)))

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        loss_plot = self.query_one(LossPlot)
        grad_plot = self.query_one(GradNormPlot)
        lr_plot = self.query_one(LearningRatePlot)
        log = self.query_one("#samples", RichLog)
        for event in message.events:
            if isinstance(event, StepMetrics):
                self.last = event
                loss_plot.add(event.step, event.loss, event.val_loss)
                grad_plot.add(event.step, event.grad_norm, event.clipped)
                lr_plot.add(event.step, event.lr)
                self._rate.update(event.tokens_per_second)
                if self._first_seen is None:
                    self._first_seen = (event.step, event.elapsed)
                if event.val_loss is not None:
                    self.last_val = event.val_loss
                    self.write_sample(log, event)
                    self.query_one(TrainingXrayView).add(event)
                if self.state is TrainState.STARTING:
                    self.state = TrainState.RUNNING
            elif isinstance(event, TrainingStarted):
                self.started = event
                self.state = TrainState.RUNNING
                loss_plot.reset(event.vocab_size)
                log.write(
                    Text(
                        f"training {format_count(event.num_parameters)} parameters on "
                        f"{event.device} with {event.threads} thread(s); the child's output goes "
                        f"to {event.log_path}",
                        style="dim",
                    )
                )
            elif isinstance(event, TrainingState):
                self.state = TrainState[event.state.name]  # core's RunState, by name
            elif isinstance(event, CommandFailed):
                self.notify(event.message, severity="error")
            elif isinstance(event, CheckpointSaved):
                self.last_checkpoint = event.path
                log.write(
                    Text(f"step {event.step}: checkpoint saved in {event.path}", style="green")
                )
            elif isinstance(event, WeightSnapshot):
                self.app.use_weights(
                    WeightSource(f"training weights at step {event.step}", snapshot=event)
                )
            elif isinstance(event, TrainingFinished):
                self.on_finished(event, log)
        if self._builder is not None:
            self._builder.wake.set()
        self.update_status()
        self.update_buttons()

    def write_sample(self, log: RichLog, metrics: StepMetrics) -> None:
        header = Text(f"step {metrics.step}  val loss {metrics.val_loss:.3f}", style="bold")
        log.write(header)
        if metrics.sample:
            log.write(Text(metrics.sample.strip("\n")[:600]))

    def on_finished(self, event: TrainingFinished, log: RichLog) -> None:
        self.finished = event
        if event.checkpoint:
            self.last_checkpoint = event.checkpoint
        if event.error:
            self.state = TrainState.FAILED
            log.write(Text(f"training failed: {event.error}", style="bold red"))
            self.query_one(RunForm).show_error(event.error)
        else:
            self.state = TrainState.FINISHED
            how = "stopped" if event.stopped else "finished"
            log.write(
                Text(
                    f"{how} at step {event.step}; checkpoint in {event.checkpoint}. "
                    "Press w to use these weights in Generate and Chat.",
                    style="bold green",
                )
            )
        if self.process is not None:
            self.process.join(timeout=0)
        if self.exit_when_stopped:
            self.app.exit()

    # --- views ------------------------------------------------------------------------------
    def update_buttons(self) -> None:
        active = self.active
        if (self.state, active) == self._buttons_shown:
            return  # progress arrives ten times a second; the buttons change with the state
        self._buttons_shown = (self.state, active)
        self.set_class(active, "-training")  # narrow terminals give the form's room to plots
        self.query_one("#start", Button).disabled = active
        self.query_one("#pause", Button).disabled = not self.state.steppable
        paused = self.state is TrainState.PAUSED
        self.query_one("#pause", Button).label = "Resume (p)" if paused else "Pause (p)"
        self.query_one("#stop", Button).disabled = not active or self.state is TrainState.STOPPING
        self.query_one("#save", Button).disabled = not self.state.steppable
        for widget in self.query_one(RunForm).query("Input, Select"):
            widget.disabled = active

    def update_status(self) -> None:
        status = self.query_one(StatusBar)
        text = StatusBar.state_text(self.state)
        metrics, started = self.last, self.started
        if metrics is not None:
            total = metrics.max_steps
            text.append(f" step {metrics.step}/{total}", style="bold")
            text.append(f"  loss {metrics.loss:.3f}")
            if self.last_val is not None:
                text.append(f"  val {self.last_val:.3f}", style="rgb(255,170,0)")
            text.append(f"  {format_count(self._rate.value)} tok/s")
            text.append(f"  elapsed {format_duration(metrics.elapsed)}")
            text.append(f"  ETA {format_duration(self.eta(metrics))}")
        else:
            form_config = None
            try:
                form_config = self.query_one(RunForm).config()
            except ValueError:
                pass
            if form_config is not None:
                text.append(f" 0/{form_config.max_steps} steps", style="dim")
        if started is not None:
            threads = f"{started.threads} thread{'s' if started.threads > 1 else ''}"
            text.append(f"  {started.device} × {threads}", style="dim")
            text.append(f"  {format_count(started.num_parameters)} params", style="dim")
        status.show(text)

    def eta(self, metrics: StepMetrics) -> float | None:
        if self._first_seen is None:
            return None
        first_step, first_elapsed = self._first_seen
        done = metrics.step - first_step
        if done <= 0:
            return None
        per_step = (metrics.elapsed - first_elapsed) / done
        return per_step * (metrics.max_steps - metrics.step)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the child and wait for its final save (the app is exiting)."""
        process = self.process
        if process is None or not process.alive:
            return
        process.stop()
        if not process.join(timeout):
            process.terminate()
            if not process.join(5):
                process.kill()

    def wait_for_exit(self, timeout: float) -> bool:
        """Wait for the training child to exit; True once none is left."""
        return self.process is None or self.process.join(timeout)
