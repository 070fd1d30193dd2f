"""The Train screen: the run form, live plots, a status bar and samples from each evaluation."""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input

from core import (
    CheckpointSaved,
    Command,
    CommandFailed,
    StepMetrics,
    TrainingFinished,
    TrainingProcess,
    TrainingStarted,
    TrainingState,
    UserError,
    WeightSnapshot,
)
from tui.paths import checkpoints_root
from tui.studio.formatting import format_count
from tui.studio.messages import TrainState, WeightSource
from tui.studio.relay import relay_events, shutdown_child
from tui.studio.run_clock import RunClock, run_status
from tui.studio.run_resume import RunResume
from tui.studio.screens.base import RunningWork, StudioScreen
from tui.studio.screens.plot_keys import PLOT_BINDINGS, PlotKeys
from tui.studio.widgets.common.bars import KeyBar, ModeBar
from tui.studio.widgets.common.plots import LossPlot, smoothing_label
from tui.studio.widgets.train.run_form import RunForm
from tui.studio.widgets.train.sample_log import SampleLog
from tui.studio.widgets.train.training import StatusBar
from tui.studio.widgets.train.training_plots import TrainingPlots
from tui.studio.widgets.train.training_xray import TrainingXrayView
from tui.studio.widgets.train.validation_tape import ValidationTapeView, Weights

RELAY_INTERVAL = 0.25  # seconds a step waits to travel with the next ones to the UI


class TrainScreen(PlotKeys, StudioScreen):
    """Train a model in a child process and watch it learn."""

    # the view shown in place of the plots, else the samples; not the form: t would land there
    MAIN_FOCUS = ("#training-xray", "#validation-tape", "#samples")

    BINDINGS = [
        Binding("t", "start", "Start"),
        Binding("n", "new_run", "New run"),
        Binding("p", "pause", "Pause"),  # key_label: Continue while paused
        Binding("x", "stop", "Stop"),
        Binding("s", "save", "Save"),
        Binding("w", "use_weights", "Weights→Generate/Chat"),
        Binding("v", "xray", "X-ray"),
        Binding("e", "tape", "Tape"),
        *PLOT_BINDINGS,
        Binding("f", "toggle_form", "Form"),
    ]

    @dataclass
    class Progress(Message):
        """Events from the training process: steps batched every quarter second, the rest
        at once."""

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
        self.device = "cpu"  # the form's, for each run it starts
        self.log_to: tuple[str, ...] = ()  # the trackers the form chose, for each run it starts
        self.process: TrainingProcess | None = None
        self.state = TrainState.IDLE
        self.started: TrainingStarted | None = None
        self.finished: TrainingFinished | None = None
        self.last: StepMetrics | None = None
        self.last_val: float | None = None
        self.last_checkpoint: str | None = None
        self.exit_when_stopped = False
        self.clock = RunClock()
        self._snapshots: deque[bool] = deque()  # per snapshot asked for: for Generate (w)?
        self.resume = RunResume()  # what t starts: a new run, or a stopped one resumed
        self._buttons_shown: tuple[TrainState, bool] | None = None  # (state, active) last shown

    def compose(self) -> ComposeResult:
        yield ModeBar("train")
        yield StatusBar("", id="train-status")
        with Horizontal(id="train-body"):
            yield RunForm(
                self.preset, self.corpus_path if self.corpus_text is None else "", self.threads
            )
            yield TrainingPlots()
            yield TrainingXrayView(id="training-xray")
            yield ValidationTapeView()
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(SampleLog).hint()
        self.update_status()
        self.update_buttons()

    def notify(self, message: str, *, severity: str = "information", **_) -> None:
        """On this screen a notice is a line of the status bar, never a toast over a plot."""
        self.query_one(StatusBar).notice(message, severity)

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
        text = self.corpus_text
        try:  # refused here, before a run folder or a process exists
            config, text_path = form.checked(with_text=text is not None)
            self.device, self.threads = form.machine()
            self.log_to = form.trackers()
        except (ValueError, UserError) as error:
            form.show_error(str(error))
            return
        form.show_error("")
        self.process, config, note = self.resume.launch(self, config, form.preset, text, text_path)
        form.fill(config)  # a resumed run's own settings and steps, not the form's
        self.process.start()
        self.state, self.started, self.finished, self.last = TrainState.STARTING, None, None, None
        self.last_val = None
        self.clock.reset(config)
        self.query_one(TrainingPlots).reset(config)
        self.query_one(TrainingXrayView).new_run(self.process.out_dir.name)
        self.query_one(SampleLog).note(note)
        self.query_one(ValidationTapeView).new_run(text, text_path)
        self.relay(self.process)
        self.update_status()
        self.update_buttons()

    def action_new_run(self) -> None:
        if not self.active:
            self.resume.forget()
        self.action_start()

    def action_pause(self) -> None:
        if self.process is None or not self.state.steppable:
            self.notify("Nothing to pause: no run is training (t starts one).")
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
        else:
            self.notify("Nothing to stop: no run is training.")

    def action_save(self) -> None:
        if self.process is not None and self.state.steppable:
            self.process.save()
        else:
            self.notify("Nothing is training; finished runs are already saved.")

    def action_use_weights(self) -> None:
        """Copy the training weights into Generate and Chat (a snapshot, or the final save)."""
        if self.process is not None and self.state.steppable:
            self.process.snapshot()
            self._snapshots.append(True)
            self.notify("Copying the current weights to Generate and Chat…")
        elif self.last_checkpoint is not None:
            name = f"trained {Path(self.last_checkpoint).name}"
            self.app.use_weights(WeightSource(name, checkpoint=self.last_checkpoint))
        else:
            self.notify("Train first (t): there are no weights to copy yet.", severity="warning")

    def action_xray(self) -> None:
        """Show the Training X-ray in place of the plots, or the plots again."""
        self.remove_class("-tape")
        self.query_one(TrainingXrayView).toggle_on(self)

    def action_tape(self) -> None:
        """Show the prediction tape of a validation chunk in place of the plots, or hide it."""
        self.query_one(ValidationTapeView).toggle_on(self)

    def key_label(self, action: str) -> str | None:
        if action == "start":
            return "Resume" if self.resume.plan is not None and not self.active else "Start"
        if action == "pause":
            return "Continue" if self.state is TrainState.PAUSED else "Pause"
        return self.plot_key_label(action)

    def action_toggle_form(self) -> None:
        """Show or hide the run form (a narrow terminal hides it while a run trains)."""
        shown = self.query_one(RunForm).display
        self.set_class(shown, "-form-hidden")
        self.set_class(not shown, "-form-shown")

    @on(Input.Changed, "#run-form Input")
    def form_changed(self, event: Input.Changed) -> None:
        """Until a run starts, the status and the clip line follow what the form would train."""
        if self.active:
            return
        self.update_status()
        if event.input.id == "grad-clip":
            with suppress(ValueError):
                self.query_one(TrainingPlots).set_clip(max(0.0, float(event.value)))

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
        relay_events(process, self, self.Progress, RELAY_INTERVAL, routine=StepMetrics)

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        plots = self.query_one(TrainingPlots)
        log = plots.samples
        for event in message.events:
            if isinstance(event, StepMetrics):
                self.last = event
                plots.add(event)
                self.clock.add(event)
                if event.val_loss is not None:
                    self.last_val = event.val_loss
                    log.sample(event)
                    self.query_one(TrainingXrayView).add(event)
                    self.evaluated(event)
                if self.state is TrainState.STARTING:
                    self.state = TrainState.RUNNING
            elif isinstance(event, TrainingStarted):
                self.started = event
                self.state = TrainState.RUNNING
                plots.reset(event.config, event.vocab_size, event.corpus_sha256)
                self.resume.started(self)  # its command recorded, a resumed run's steps
                log.note(
                    f"training {format_count(event.num_parameters)} parameters on "
                    f"{event.device} with {event.threads} thread(s); the child's output goes "
                    f"to {event.log_path}"
                )
            elif isinstance(event, TrainingState):
                self.state = TrainState[event.state.name]  # core's RunState, by name
            elif isinstance(event, CommandFailed):
                if event.command is Command.SNAPSHOT and self._snapshots:
                    self._snapshots.popleft()  # the child answers in the order it was asked
                self.notify(event.message, severity="error")
            elif isinstance(event, CheckpointSaved):
                self.last_checkpoint = event.path
                last = self.last
                if last is None or last.val_loss is None or last.checkpoint != event.path:
                    log.note(f"step {event.step}: checkpoint saved in {event.path}", style="green")
            elif isinstance(event, WeightSnapshot):
                self.query_one(ValidationTapeView).take_weights(Weights(event.step, event))
                if self._snapshots and self._snapshots.popleft():
                    self.app.use_weights(
                        WeightSource(f"training weights at step {event.step}", snapshot=event)
                    )
            elif isinstance(event, TrainingFinished):
                self.on_finished(event, log)
        plots.wake()
        self.update_status()
        self.update_buttons()

    def evaluated(self, metrics: StepMetrics) -> None:
        """An evaluation: the tape follows it, on a snapshot of the weights it evaluated."""
        self.query_one(ValidationTapeView).evaluated(metrics.step, metrics.val_loss)
        if self.process is not None and self.state.steppable:
            self.process.snapshot()
            self._snapshots.append(False)

    def on_finished(self, event: TrainingFinished, log: SampleLog) -> None:
        self.finished = event
        self._snapshots.clear()
        if event.checkpoint:
            self.last_checkpoint = event.checkpoint
            tape = self.query_one(ValidationTapeView)
            tape.take_weights(Weights(event.step, checkpoint=event.checkpoint))
        if event.error:
            self.state = TrainState.FAILED
            log.note(f"training failed: {event.error}", style="bold red")
            self.query_one(RunForm).show_error(event.error)
        else:
            self.state = TrainState.FINISHED
            how = "stopped" if event.stopped else "finished"
            saved = (
                f"checkpoint in {event.checkpoint}. Press w to use these weights in Generate "
                "and Chat. "
                if event.checkpoint
                else "nothing was saved (no step had finished). "
            )
            log.note(
                f"{how} at step {event.step}; {saved}"
                + self.resume.offer(event, self.started.config if self.started else None),
                style="bold green",
            )
        if self.process is not None:
            self.process.join(timeout=0)
        if self.exit_when_stopped:
            self.app.exit()

    # --- views ------------------------------------------------------------------------------
    def update_buttons(self) -> None:
        active = self.active
        if (self.state, active) == self._buttons_shown:
            return  # progress arrives a few times a second; the buttons change with the state
        if self._buttons_shown is None or self._buttons_shown[1] != active:
            self.remove_class("-form-hidden", "-form-shown")  # f's choice lasts one phase
        self._buttons_shown = (self.state, active)
        self.set_class(active, "-training")  # narrow terminals give the form's room to plots
        self.query_one(RunForm).show_state(self.state, self.key_label("start"))
        self.query_one(KeyBar).show_keys()  # t's and p's labels follow the state

    def update_status(self) -> None:
        try:
            planned = self.query_one(RunForm).config().max_steps
        except ValueError:
            planned = None
        plot = self.query_one(LossPlot)  # the status shows the loss as the plot's title does
        shown = plot.smoothed_loss, smoothing_label(plot.smoothing)
        state = (self.state, self.last, self.last_val, self.clock, self.started, self.finished)
        self.query_one(StatusBar).show(*run_status(*state, planned, shown))

    # --- what the app asks of its screens ---------------------------------------------------
    def running_work(self) -> RunningWork | None:
        if not self.active or self.exit_when_stopped:
            return None
        return RunningWork("training", self.last.step if self.last else 0)

    def stop_work(self) -> None:
        if self.process is not None:
            self.process.stop()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the child and wait for its final save (the app is exiting)."""
        shutdown_child(self.process, "training process", timeout)

    def wait_for_exit(self, timeout: float) -> bool:
        """Wait for the training child to exit; True once none is left."""
        return self.process is None or self.process.join(timeout)
