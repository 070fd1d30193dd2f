"""The Experiments screen: race the baseline against design variants and see what each is for."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Button, Input, Select, SelectionList, Static
from textual.worker import get_current_worker

from core import (
    PRESETS,
    RACE_THREADS,
    SCENARIOS,
    VARIANTS,
    RaceFinished,
    RaceProcess,
    RaceProgress,
    UserError,
    check_corpus_file,
    load_race,
    new_run_folder,
)
from tui.studio.formatting import form_advice, format_duration
from tui.studio.messages import TrainState
from tui.studio.relay import relay_events, shutdown_child
from tui.studio.screens.base import RunningWork, StudioScreen
from tui.studio.widgets.common.bars import KeyBar, ModeBar
from tui.studio.widgets.common.plots import PlotBuilder
from tui.studio.widgets.experiments.race import (
    Lane,
    Point,
    RacePlot,
    RaceTable,
    lanes_from_report,
    new_lanes,
    race_plot_heading,
    same_step,
)
from tui.studio.widgets.experiments.race_form import (
    DEFAULT_PRESET,
    DEFAULT_STEPS,
    RaceForm,
    RacePicker,
)
from tui.studio.widgets.experiments.race_notes import race_notes, scenario_notes
from tui.studio.widgets.train.run_form import RunForm
from tui.studio.widgets.train.training import StatusBar

RELAY_INTERVAL = 0.1  # seconds progress waits to travel with the next to the UI
STATE_LABELS = {
    TrainState.IDLE: ("○ ready", "dim"),
    TrainState.STARTING: ("◌ starting the race process…", "yellow"),
    TrainState.RUNNING: ("▶ racing", "bold green"),
    TrainState.STOPPING: ("■ stopping after this block, saving…", "bold yellow"),
    TrainState.FINISHED: ("✓ finished", "bold green"),
    TrainState.FAILED: ("✗ failed", "bold red"),
}


class ExperimentsScreen(StudioScreen):
    """Train the baseline and variants side by side in a child process, and compare them."""

    MAIN_FOCUS = ("#exp-variants", "#race-table")  # space ticks a variant at once; t starts
    BUILD_AHEAD = True  # a form and three panels

    BINDINGS = [
        Binding("t", "start", "Start race"),
        Binding("x", "stop", "Stop"),
        Binding("o", "open", "Open saved"),
        Binding("s", "axis", "x: steps/seconds"),
        Binding("f", "toggle_form", "Form"),
    ]

    @dataclass
    class Progress(Message):
        """Events from the race process: progress batched ten times a second, the finish at
        once."""

        events: tuple

    def __init__(self) -> None:
        super().__init__(id="experiments")
        self.process: RaceProcess | None = None
        self.state = TrainState.IDLE
        self.lanes: list[Lane] = []
        self.steps = DEFAULT_STEPS
        self.preset_name = DEFAULT_PRESET
        self.out_dir: Path | None = None
        self.finished: RaceFinished | None = None
        self.report: dict | None = None  # the race shown, once finished or opened
        self.exit_when_stopped = False
        self._started_at = 0.0
        self._stop_pending = False
        self._builder: PlotBuilder | None = None
        self.seconds_axis = False  # the plot's x axis, kept here until the plot exists

    def compose(self) -> ComposeResult:
        yield ModeBar("experiments")
        yield StatusBar("", id="exp-status")
        with Horizontal(id="exp-body"):
            yield RaceForm(id="exp-form")
            with Vertical(id="exp-main"):
                yield Static(RacePlot.placeholder, id="race-waiting")  # until the first race
                with VerticalScroll(id="race-notes"):
                    yield Static("", id="race-notes-text")
        yield KeyBar()

    def on_mount(self) -> None:
        notes = self.query_one("#race-notes")
        notes.border_title = "verdicts from the numbers, and the question each variant answers"
        self.query_one("#race-waiting").border_title = race_plot_heading(False)
        self.set_interval(1.0, self.tick)
        self.preview_variants()
        self.update_status()
        self.update_buttons()

    def tick(self) -> None:
        if self.active:  # the elapsed time, between batches of progress
            self.update_status()

    @work(thread=True, exclusive=True, group="race-plots", name="race-plot-builder")
    def build_plots(self) -> None:
        worker = get_current_worker()
        self._builder.run(lambda: worker.is_cancelled)

    # --- the form ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """A race process exists and has not finished."""
        return self.process is not None and self.state.active

    def set_race(self, preset_name: str, steps: int, variants: list[str]) -> None:
        """The form's next race, as if chosen by hand."""
        self.query_one(RaceForm).set_race(preset_name, steps, variants)

    def corpus(self) -> tuple[str | None, str]:
        """The studio's corpus: its text if the app holds it in memory, else its path."""
        train = self.app.train_screen
        if train.corpus_text is not None:
            return train.corpus_text, ""
        try:  # what the Train form names now, so both screens learn from the same text
            return None, train.query_one(RunForm).corpus_path() or train.corpus_path
        except NoMatches:
            return None, train.corpus_path

    @on(SelectionList.SelectedChanged, "#exp-variants")
    @on(Select.Changed, "#exp-scenario")
    def preview_variants(self) -> None:
        """Before any race is shown, the notes describe the scenario or the ticked variants."""
        if not self.lanes:
            form = self.query_one(RaceForm)
            scenario = form.scenario()
            notes = (
                scenario_notes(scenario) if scenario else race_notes(new_lanes(form.variants(), {}))
            )
            self.query_one("#race-notes-text", Static).update(notes)

    @on(Input.Submitted, "#exp-steps")
    def steps_submitted(self) -> None:
        self.query_one("#exp-start", Button).focus()

    # --- actions ----------------------------------------------------------------------------
    def action_start(self) -> None:
        if self.active:
            self.notify("A race is already running; stop it first (x).", severity="warning")
            return
        form = self.query_one(RaceForm)
        try:
            label, plan = form.plan()
        except ValueError as error:
            form.show_error(str(error))
            return
        corpus_text, corpus_path = self.corpus()
        if corpus_text is None and plan.data == "corpus":  # a bad file is said here
            try:
                check_corpus_file(
                    corpus_path, plan.base.block_size if plan.base.tokenizer == "char" else None
                )
            except UserError as error:
                form.show_error(form_advice(f"{error} (the corpus field is on Train)"))
                return
        form.show_error("")
        self.out_dir = self.results_folder(label)
        if corpus_text is not None:  # the child reads a file: keep the text with the results
            self.out_dir.mkdir(parents=True, exist_ok=True)
            corpus_path = str(self.out_dir / "corpus.txt")
            Path(corpus_path).write_text(corpus_text, encoding="utf-8")
        preset_name = None if plan.scenario else label
        self.process = RaceProcess(
            plan, self.out_dir, corpus_path, RACE_THREADS, preset_name=preset_name
        )
        self.process.start()
        self.state, self.finished, self.report = TrainState.STARTING, None, None
        self._stop_pending = False
        self.steps, self.preset_name, self._started_at = plan.steps, label, time.monotonic()
        variants = {arm.name: arm.variant for arm in plan.arms}
        self.show_lanes(new_lanes(plan.names, plan.tokens_per_step(), plan.seeds, variants))
        if self.has_class("-narrow"):  # the race needs the room; f brings the form back
            self.add_class("-form-hidden")
        if self.app.train_screen.active:
            self.notify("Training is running too: both share the cores and run slower.")
        self.relay(self.process)
        self.update_status()
        self.update_buttons()

    def results_folder(self, preset_name: str) -> Path:
        return new_run_folder(self.app.checkpoints_dir / "experiments", preset_name)

    def action_stop(self) -> None:
        """Stop between two blocks; the race so far is saved."""
        if self.process is not None and self.active and self.state is not TrainState.STOPPING:
            # a race stopped before its first block has no step times to report and fails:
            # the stop waits for the untrained evaluations, after which the race asks for it
            # (the next time, after one block)
            if self.lanes and all(lane.points for lane in self.lanes):
                self.process.stop()
            else:
                self._stop_pending = True
            self.state = TrainState.STOPPING
            self.update_status()
            self.update_buttons()

    def stop_and_exit(self) -> None:
        """Stop the race, wait for it to be saved, then quit the app."""
        self.exit_when_stopped = True
        self.action_stop()
        self.notify("Stopping the race and saving it… (press q again to quit now)")

    def action_toggle_form(self) -> None:
        self.toggle_class("-form-hidden")

    def action_axis(self) -> None:
        self.seconds_axis = not self.seconds_axis
        try:
            self.query_one(RacePlot).toggle_axis()
        except NoMatches:  # no race shown yet: the plot starts on this axis
            self.query_one("#race-waiting").border_title = race_plot_heading(self.seconds_axis)
        self.wake_builder()

    def action_open(self) -> None:
        if self.active:
            self.notify(
                "A race is running; stop it (x) before opening another.", severity="warning"
            )
            return
        self.app.push_screen(RacePicker(self.app.checkpoints_dir / "experiments"), self.open_race)

    def open_race(self, folder: Path | None) -> None:
        """Show a saved race in the plot, the table and the notes."""
        if folder is None:
            return
        try:
            report = load_race(folder)
            lanes = lanes_from_report(report)
        except (UserError, KeyError, TypeError, ValueError) as error:
            self.notify(f"cannot open {folder}: {error}", severity="error")
            return
        self.report, self.out_dir, self.finished = report, Path(folder), None
        self.steps = int(report.get("steps") or 0)
        scenario = report.get("scenario")
        self.preset_name = str(scenario or report.get("preset") or Path(folder).name.split("-")[0])
        self.state = TrainState.IDLE
        names = [str(variant.get("name")) for variant in report.get("variants", ())]
        known = [name for name in names if name in VARIANTS and name != "baseline"]
        form = self.query_one(RaceForm)
        if scenario in SCENARIOS:  # the form shows the race opened: run it again with t
            form.set_race(form.query_one("#exp-preset", Select).value, self.steps, [], scenario)
        elif self.preset_name in PRESETS:
            form.set_race(self.preset_name, self.steps, known)
        self.show_lanes(lanes)
        self.update_status()

    @on(Button.Pressed)
    def button_pressed(self, event: Button.Pressed) -> None:
        actions = {"exp-start": self.action_start, "exp-stop": self.action_stop}
        actions.get(event.button.id, self.action_open)()

    # --- events from the child --------------------------------------------------------------
    @work(thread=True, exclusive=True, group="race", name="race-relay")
    def relay(self, process: RaceProcess) -> None:
        relay_events(process, self, self.Progress, RELAY_INTERVAL, routine=RaceProgress)

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        lanes = {lane.name: lane for lane in self.lanes}
        for event in message.events:
            if isinstance(event, RaceProgress) and event.variant in lanes:
                p = event.point
                point = Point(p.step, p.seconds, p.val_loss, p.val_bpc, p.causal_val_loss)
                lanes[event.variant].add(event.seed, point)
                if self.state is TrainState.STARTING:
                    self.state = TrainState.RUNNING
                if self._stop_pending and all(lane.points for lane in self.lanes):
                    self._stop_pending = False
                    self.process.stop()
            elif isinstance(event, RaceFinished):
                self.on_finished(event)
                return
        self.show_lanes(self.lanes, notes=False)  # the notes change at the start and the end
        self.update_status()
        self.update_buttons()

    def on_finished(self, event: RaceFinished) -> None:
        self.finished = event
        if event.error or event.report is None:
            self.state = TrainState.FAILED
            self.query_one(RaceForm).show_error(f"the race failed: {event.error}")
            self.notify(f"The race failed: {event.error}", severity="error")
        else:
            self.state = TrainState.FINISHED
            self.report = event.report
            tokens = {lane.name: lane.tokens_per_step for lane in self.lanes}
            lanes = lanes_from_report(event.report)
            for lane in lanes:
                lane.tokens_per_step = tokens.get(lane.name)
            self.show_lanes(lanes)
        if self.process is not None:
            self.process.join(timeout=0)
        self.update_status()
        self.update_buttons()
        if self.exit_when_stopped and not self.app.train_screen.active:
            self.app.exit()

    # --- views ------------------------------------------------------------------------------
    def results(self) -> tuple[RacePlot, RaceTable]:
        """The race's plot and table, mounted in place of the waiting note on first use."""
        if self.query(RacePlot):
            return self.query_one(RacePlot), self.query_one(RaceTable)
        plot, table = RacePlot(id="race-plot"), RaceTable(id="race-table")
        plot.seconds_axis = self.seconds_axis
        self.query_one("#race-waiting").remove()
        self.query_one("#exp-main").mount(plot, table, before="#race-notes")
        self._builder = PlotBuilder([plot])
        self.build_plots()
        return plot, table

    def show_lanes(self, lanes: list[Lane], notes: bool = True) -> None:
        self.lanes = lanes
        plot, table = self.results()
        plot.show(lanes)
        table.show(lanes)
        if notes:
            verdicts = (self.report or {}).get("verdicts")
            self.query_one("#race-notes-text", Static).update(race_notes(lanes, verdicts))
        self.wake_builder()

    def wake_builder(self) -> None:
        if self._builder is not None:
            self._builder.wake.set()

    def update_buttons(self) -> None:
        self.query_one(RaceForm).show_active(self.active, self.state is TrainState.STOPPING)

    def update_status(self) -> None:
        label, style = STATE_LABELS[self.state]
        finished = self.finished
        if self.state is TrainState.FINISHED and finished is not None and finished.stopped:
            label, style = "■ stopped early", "bold yellow"
        text = Text(f"{label} ", style=style)
        step = same_step(self.lanes)
        if self.lanes:
            names = len(self.lanes)
            text.append(f" {self.preset_name}, {names} variant{'s' * (names > 1)}", style="bold")
            text.append(f"  step {step if step is not None else 0}/{self.steps}")
        if self.active:
            text.append(f"  elapsed {format_duration(time.monotonic() - self._started_at)}")
        if self.state is TrainState.FAILED and finished is not None:
            text.append(f"  {finished.error}", style="red")
        elif finished is not None and finished.path:
            text.append(f"  saved in {Path(finished.path).parent}", style="green")
        elif self.report is not None and self.out_dir is not None:
            text.append(f"  opened {self.out_dir}", style="dim")
        elif self.out_dir is not None and self.active:
            text.append(f"  → {self.out_dir.name}", style="dim")
        if not self.lanes:
            text.append(" tick variants, then t starts a race; o opens a saved one", style="dim")
        self.query_one(StatusBar).show(text)

    # --- what the app asks of its screens ---------------------------------------------------
    def running_work(self) -> RunningWork | None:
        if not self.active or self.exit_when_stopped:
            return None
        return RunningWork("race", same_step(self.lanes) or 0)

    def stop_work(self) -> None:
        if self.process is not None:
            self.process.stop()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the child and wait for it to save the race (the app is exiting)."""
        shutdown_child(self.process, "race process", timeout)
