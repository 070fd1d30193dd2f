"""The Runs screen's tracker keys: mark runs and compare their settings, rename, annotate, delete
(after a question that lists what goes and what stays) and export a run's metrics as CSV."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from textual import work
from textual.message import Message

from core import (
    RunSummary,
    UserError,
    delete_run,
    export_metrics,
    free_export_path,
    plan_delete,
    rename_run,
    settings_diff,
    write_note,
)
from tui.studio.formatting import format_path
from tui.studio.screens.run_dialogs import DeleteQuestion, RunDiffScreen, TextQuestion, run_label
from tui.studio.widgets.train.run_form import RunForm

RunKey = tuple[Path, str]  # a row's folder and name: a race's variants share its folder


def row_key(summary: RunSummary) -> RunKey:
    return summary.path, summary.name


@dataclass
class MetricsExported(Message):
    """A run's metrics were written as CSV (or could not be): the notice to show."""

    message: str
    severity: str = "information"


class RunEdits:
    """What the Runs screen (a `StudioScreen` with `rows`, `highlighted`, `chosen`, `scan` and
    `fill_table`) does to runs, as a tracker would: m, v, n, a, d and e."""

    marked: list[RunKey]  # at most two, oldest first

    # --- compare ----------------------------------------------------------------------------
    def action_mark(self) -> None:
        """Mark the highlighted run to compare (v); marked again, unmark it."""
        summary = self.chosen()
        if summary is None:
            return
        key = row_key(summary)
        if key in self.marked:
            self.marked.remove(key)
            self.notify(f"{run_label(summary)} unmarked")
        else:
            self.marked = [*self.marked, key][-2:]
            others = "highlight another run and press v" if len(self.marked) == 1 else "press v"
            self.notify(f"{run_label(summary)} marked ◆; {others} to compare their settings")
        self.fill_table()

    def action_compare(self) -> None:
        """The settings that differ: between the two marked runs, or the marked and the
        highlighted one."""
        rows = {row_key(row): row for row in self.rows}
        marked = [rows[key] for key in self.marked if key in rows]
        current = self.highlighted
        if len(marked) == 1 and current is not None and row_key(current) != self.marked[0]:
            marked.append(current)
        if len(marked) < 2:
            self.notify(
                "Mark a run with m, then highlight another (or mark it too) and press v.",
                severity="warning",
            )
            return
        try:
            diffs = settings_diff(*marked)
        except UserError as error:
            self.notify(str(error), severity="error")
            return
        self.app.push_screen(RunDiffScreen(*marked, diffs))

    # --- rename, note, delete ---------------------------------------------------------------
    def editable(self, doing: str) -> RunSummary | None:
        """The highlighted run or race, unless this studio trains or races into it now."""
        summary = self.chosen()
        if summary is None:
            return None
        train = self.app.train_screen
        process = getattr(train, "process", None)
        races = self.app.mode_screens.get("experiments")
        refusal = None
        if train.active and process is not None and process.out_dir == summary.path:
            refusal = f"{summary.name} is training on the Train screen; stop it first (1, then x)"
        elif races is not None and races.running_work() and races.out_dir == summary.path:
            refusal = f"{summary.name} is racing on Experiments; stop it first (5, then x)"
        elif summary.kind == "variant":
            refusal = f"{run_label(summary)} is a race's variant: {doing} the race (its row above)"
        if refusal is not None:
            self.notify(refusal, severity="warning")
            return None
        return summary

    def action_rename(self) -> None:
        """Rename the run's folder, in place."""
        summary = self.editable("rename")
        if summary is None:
            return

        def apply(text: str) -> str | None:
            try:
                new = rename_run(summary, text.strip())
            except UserError as error:
                return str(error)
            self.follow_rename(summary, new)
            return None

        where = format_path(summary.path.parent)
        hint = f"a new folder name in {where} · enter renames · esc keeps {summary.name}"
        self.app.push_screen(TextQuestion(f"Rename {summary.name}", summary.name, hint, apply))

    def follow_rename(self, summary: RunSummary, new: Path) -> None:
        """What pointed at the old folder points at the new one: the marks, the Train screen's
        next resume and last checkpoint, the weights Generate, Chat and Model load."""
        old = summary.path
        self.marked = [
            (new, new.name if name == old.name else name) if path == old else (path, name)
            for path, name in self.marked
        ]
        train, source = self.app.train_screen, self.app.weights_source
        if train.resume.plan is not None and train.resume.plan.path == old:
            train.resume.plan = replace(train.resume.plan, path=new, name=new.name)
        if train.last_checkpoint == str(old):
            train.last_checkpoint = str(new)
        if source is not None and source.checkpoint == str(old):
            label = source.label
            if label.endswith(old.name):
                label = label[: -len(old.name)] + new.name
            self.app.weights_source = replace(source, label=label, checkpoint=str(new))
        for index, row in enumerate(self.rows):
            if row is summary:  # the cursor stays on it when the list is read again
                self.rows[index] = replace(row, path=new, name=new.name)
        self.notify(f"renamed {summary.name} to {new.name} ({format_path(new)})")
        self.scan()

    def action_note(self) -> None:
        """Write, change or remove the run's note (note.txt in its folder)."""
        summary = self.editable("annotate")
        if summary is None:
            return

        def apply(text: str) -> str | None:
            try:
                note = write_note(summary.path, text)
            except UserError as error:
                return str(error)
            said = f"note saved for {summary.name}" if note else f"note of {summary.name} removed"
            self.notify(said)
            self.scan()
            return None

        hint = "one line, kept in note.txt in its folder · enter saves (empty removes it) · esc"
        self.app.push_screen(
            TextQuestion(f"Note on {summary.name}", summary.note or "", hint + " keeps it", apply)
        )

    def action_delete(self) -> None:
        """Ask, then delete the files this project wrote in the run's folder (and the folder
        once it is empty)."""
        summary = self.editable("delete")
        if summary is None:
            return
        try:
            plan = plan_delete(summary)
        except UserError as error:
            self.notify(str(error), severity="error")
            return

        def answered(delete: bool | None) -> None:
            if not delete:
                self.notify(f"{summary.name} kept: nothing was deleted")
                return
            try:
                removed, folder_gone = delete_run(plan)
            except UserError as error:
                self.notify(str(error), severity="error")
                self.scan()
                return
            self.follow_delete(summary)
            if folder_gone:
                self.notify(f"deleted {summary.name}: {removed} files and its folder")
            else:
                self.notify(
                    f"deleted the {removed} files MiniGPT wrote in {summary.name}; its folder "
                    f"stays with what it did not write ({format_path(plan.path)})",
                    severity="warning",
                )
            self.scan()

        self.app.push_screen(DeleteQuestion(plan), answered)

    def follow_delete(self, summary: RunSummary) -> None:
        """Forget the deleted run: its marks, and the Train screen's plan to resume it."""
        self.marked = [key for key in self.marked if key[0] != summary.path]
        train = self.app.train_screen
        if train.resume.plan is not None and train.resume.plan.path == summary.path:
            train.resume.forget()
            if train.is_mounted and not train.active:  # t starts a new run now, and says so
                train.query_one(RunForm).show_state(train.state, train.key_label("start"))

    # --- export -----------------------------------------------------------------------------
    def action_export(self) -> None:
        """Write the run's metrics as CSV into its folder (metrics.csv, or the next free name)."""
        summary = self.chosen()
        if summary is None:
            return
        if summary.kind != "run":
            self.notify(
                f"{run_label(summary)} is a race: its curves are in race.json; export a run",
                severity="warning",
            )
            return
        self.export_csv(summary)

    @work(thread=True, exclusive=True, group="runs-export", name="runs-export")
    def export_csv(self, summary: RunSummary) -> None:
        path = free_export_path(summary.path)
        try:
            rows = export_metrics(summary.path, path)
        except UserError as error:
            self.post_message(MetricsExported(str(error), "error"))
            return
        earlier = " (the earlier export is kept)" if path.name != "metrics.csv" else ""
        text = f"exported {rows} steps of {summary.name} as CSV to {format_path(path)}{earlier}"
        self.post_message(MetricsExported(text))

    def on_metrics_exported(self, message: MetricsExported) -> None:
        self.notify(message.message, severity=message.severity)
