"""The Runs screen: past runs and races under the checkpoints folder, newest first; a run's
details and loss curves; its curve overlaid on the Train plot (several runs at once), its weights
in Generate, Chat and Model, and the resume of a stopped run. The tracker's keys (compare,
rename, note, delete, CSV) are in run_edits.py; a delete asks first and removes only what this
project wrote."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from core import (
    COMMAND_FILE,
    LossCurves,
    RunSummary,
    list_runs,
    read_curves,
    read_run,
    resume_refusal,
)
from tui.studio.formatting import format_path
from tui.studio.messages import WeightSource
from tui.studio.overlays import marked_cell, overlay_key, overlay_run
from tui.studio.screens.base import StudioScreen
from tui.studio.screens.run_edits import RunEdits, RunKey, row_key
from tui.studio.screens.watch import WatchScreen
from tui.studio.widgets.common.bars import KeyBar, ModeBar
from tui.studio.widgets.common.plots import PlotBuilder
from tui.studio.widgets.runs.run_list import (
    COLUMNS,
    NARROW_COLUMNS,
    NOTED_COLUMNS,
    RunCurvePlot,
    details,
    flatten,
    row_cells,
)
from tui.studio.widgets.train.training_plots import TrainingPlots

WIDE = 120  # cells from which the table has room for every column
NOTED = 150  # cells from which it has room for the start of each run's note too


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


class RunsScreen(RunEdits, StudioScreen):
    """Every run and race this studio's checkpoints folder holds, and what can be done with one."""

    MAIN_FOCUS = ("#runs-table",)

    BINDINGS = [
        Binding("r", "resume", "Resume"),
        Binding("l", "load", "Load→Generate/Chat/Model"),
        Binding("g", "overlay", "Overlay"),
        Binding("c", "clear_overlays", "Clear overlays"),
        Binding("m", "mark", "Mark"),
        Binding("v", "compare", "Compare"),
        Binding("n", "rename", "Rename"),
        Binding("a", "note", "Note"),
        Binding("d", "delete", "Delete"),
        Binding("e", "export", "CSV"),
        Binding("u", "refresh", "Refresh"),
    ]

    @dataclass
    class Listed(Message):
        """What one scan of the checkpoints folder found, newest first."""

        summaries: list[RunSummary]
        error: str | None = None

    @dataclass
    class Detailed(Message):
        """The highlighted run's curves and commands, read off the UI thread."""

        summary: RunSummary
        curves: LossCurves
        commands: list[str]

    def __init__(self) -> None:
        super().__init__(id="runs")
        self.rows: list[RunSummary] = []  # the table's rows, in order
        self.columns: tuple[str, ...] = ()  # the table's columns, fewer on a narrow terminal
        self.curves: LossCurves | None = None  # the highlighted run's, once read
        self.marked: list[RunKey] = []  # runs marked to compare (m), at most two
        self._builder: PlotBuilder | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("runs")
        yield Static("", id="runs-status")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="runs-detail"):
            with VerticalScroll(id="run-info"):
                yield Static("", id="run-info-text")
            yield RunCurvePlot(id="run-curve")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.border_title = (
            f"runs and races in {format_path(self.app.checkpoints_dir)}, newest first"
        )
        self.query_one("#run-info").border_title = "details"
        self._builder = PlotBuilder([self.query_one(RunCurvePlot)])
        self.build_plots()
        self.scan()

    def on_resize(self) -> None:
        width = self.size.width
        columns = NOTED_COLUMNS if width >= NOTED else COLUMNS if width >= WIDE else NARROW_COLUMNS
        if columns != self.columns:
            self.columns = columns
            self.fill_table()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.scan()  # runs may have started, stopped or finished since

    @work(thread=True, exclusive=True, group="runs-plots", name="runs-plot-builder")
    def build_plots(self) -> None:
        worker = get_current_worker()
        self._builder.run(lambda: worker.is_cancelled)

    # --- reading, off the UI thread ---------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs-scan", name="runs-scan")
    def scan(self) -> None:
        try:
            self.post_message(self.Listed(list_runs(self.app.checkpoints_dir)))
        except OSError as error:
            self.post_message(
                self.Listed([], f"cannot read {format_path(self.app.checkpoints_dir)}: {error}")
            )

    @work(thread=True, exclusive=True, group="runs-detail", name="runs-detail")
    def read_details(self, summary: RunSummary) -> None:
        if summary.kind == "run":
            curves = read_curves(summary.path)
            try:
                text = (summary.path / COMMAND_FILE).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            commands = [line for line in text.splitlines() if line.strip()]
        else:
            curves, commands = summary.curves or LossCurves(), []
        self.post_message(self.Detailed(summary, curves, commands))

    # --- showing ----------------------------------------------------------------------------
    @on(Listed)
    def listed(self, message: Listed) -> None:
        chosen = self.highlighted
        self.rows = flatten(message.summaries)
        self.fill_table()
        runs = sum(summary.kind == "run" for summary in message.summaries)
        races = len(message.summaries) - runs
        status = Text(f" {_count(runs, 'run')}, {_count(races, 'race')}", style="bold")
        if message.error:
            status = Text(f" {message.error}", style="bold red")
        elif not self.rows:
            status.append(
                "  nothing trained yet: press 1 then t to train a run, or run "
                "minigpt train --preset tiny --out checkpoints/NAME",
                style="dim",
            )
        else:
            status.append(
                "  r resume · l load its weights · g overlay it on Train",
                style="dim",
            )
        self.query_one("#runs-status", Static).update(status)
        keys = [(row.path, row.name) for row in self.rows]
        if chosen is not None and (chosen.path, chosen.name) in keys:
            row = keys.index((chosen.path, chosen.name))
            self.query_one(DataTable).move_cursor(row=row, animate=False)
        if self.rows:
            self.show_row(self.highlighted)
        else:
            self.query_one("#run-info-text", Static).update("")
            self.query_one(RunCurvePlot).show(LossCurves())

    def fill_table(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        for label in self.columns:
            table.add_column(label, key=label)
        for index, summary in enumerate(self.rows):
            marked = row_key(summary) in self.marked
            table.add_row(*row_cells(summary, self.columns, marked), key=str(index))
        if 0 < row < len(self.rows):
            table.move_cursor(row=row, animate=False)
        self.mark_overlays()

    def mark_overlays(self) -> None:
        """The runs drawn over the Train loss plot carry a mark in their colour."""
        overlays = self.app.train_screen.query_one(TrainingPlots).overlays
        table = self.query_one(DataTable)
        column = self.columns.index("run")
        for index, summary in enumerate(self.rows):
            overlay = overlays.get(overlay_key(summary))
            cell = row_cells(summary, self.columns, row_key(summary) in self.marked)[column]
            table.update_cell(str(index), "run", marked_cell(cell, overlay), update_width=True)

    @property
    def highlighted(self) -> RunSummary | None:
        """The run under the table's cursor."""
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_row(self.highlighted)

    def show_row(self, summary: RunSummary | None) -> None:
        if summary is None:
            return
        self.curves = None
        self.query_one("#run-info-text", Static).update(details(summary, []))
        self.read_details(summary)

    @on(Detailed)
    def detailed(self, message: Detailed) -> None:
        if message.summary is not self.highlighted:
            return  # the cursor moved on while it was read
        self.curves = message.curves
        self.query_one("#run-info-text", Static).update(details(message.summary, message.commands))
        self.query_one(RunCurvePlot).show(message.curves)
        if self._builder is not None:
            self._builder.wake.set()

    # --- actions ----------------------------------------------------------------------------
    def chosen(self) -> RunSummary | None:
        summary = self.highlighted
        if summary is None:
            self.notify(
                "No run here yet: train one on the Train screen (1, t).", severity="warning"
            )
        return summary

    def action_refresh(self) -> None:
        self.scan()

    def action_load(self) -> None:
        """Load the run's checkpoint into Generate, Chat and Model."""
        summary = self.chosen()
        if summary is None:
            return
        if summary.kind != "run":
            self.notify(f"{summary.name}: a race keeps curves, not weights.", severity="warning")
        elif summary.config is None:
            self.notify(f"{summary.name} cannot be loaded: {summary.problem}", severity="error")
        else:
            self.app.use_weights(WeightSource(f"run {summary.name}", checkpoint=str(summary.path)))

    def action_overlay(self) -> None:
        """Draw the run's loss over the Train screen's loss plot beside any drawn already, or
        take it off if it is drawn."""
        summary, curves = self.chosen(), self.curves
        if summary is None:
            return
        if summary.kind == "experiment":
            self.notify("Pick one of the race's variants (the rows below it) to draw.")
            return
        plots = self.app.train_screen.query_one(TrainingPlots)
        drawn = plots.overlays.get(overlay_key(summary)) is not None
        if not drawn and (curves is None or not (curves.steps or curves.val_steps)):
            self.notify(f"{summary.name} has no logged loss to draw.", severity="warning")
            return
        try:
            overlay = plots.toggle_overlay(overlay_run(summary, curves or LossCurves()))
        except ValueError as error:
            self.notify(f"{error} (g on a marked run, or c for all).", severity="warning")
            return
        self.mark_overlays()
        if overlay is None:
            self.notify(f"{summary.name} taken off the Train loss plot.")
            return
        note = plots.plots()[0].overlay_note(overlay)
        self.notify(
            f"{overlay.run.label}{f' ({note})' if note else ''} drawn in {overlay.color_name} on "
            f"the Train loss plot (1), {len(plots.overlays)} in all; g again takes it off.",
            severity="warning" if note else "information",
        )

    def action_clear_overlays(self) -> None:
        count = self.app.train_screen.query_one(TrainingPlots).clear_overlays()
        self.mark_overlays()
        self.notify(f"{count} overlay(s) cleared from the Train loss plot.")

    def action_resume(self) -> None:
        """Continue a stopped run on the Train screen, from its last checkpoint, in its folder."""
        summary = self.chosen()
        if summary is None:
            return
        if summary.kind == "run":
            summary = read_run(summary.path)  # as it is now, not as it was listed
        refusal = resume_refusal(summary)
        train = self.app.train_screen
        if refusal is None and isinstance(train, WatchScreen):
            refusal = "the Train screen is watching a run (--watch); resume it where it trains"
        if refusal is None and train.active:
            refusal = "a run is training on the Train screen; stop it first (1, then x)"
        if refusal is not None:
            self.notify(refusal, severity="warning")
            return
        train.resume.plan_run(summary)
        self.app.switch_mode("train")
        train.action_start()
        if train.active:
            self.notify(f"resuming {summary.name} from step {summary.step}")
