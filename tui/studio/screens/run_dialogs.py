"""The Runs screen's questions: a new name or a note typed in a box, the confirmation of a delete
that lists what goes and what stays, and two runs' settings side by side."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from core import DeletePlan, RunSummary, SettingDiff
from tui.studio.formatting import format_path

LISTED_FILES = 10  # names a delete question shows of each list before "and N more"


def run_label(summary: RunSummary) -> str:
    """A run's name, a race variant's with its race's: what a question calls it."""
    return f"{summary.path.name}/{summary.name}" if summary.kind == "variant" else summary.name


class TextQuestion(ModalScreen[str | None]):
    """One line typed in a box. Enter hands it to `apply`, which does the change and returns
    None (the box closes) or a one-line error, shown under the box with the text kept to fix;
    esc closes it and changes nothing."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str, hint: str, apply: Callable[[str], str | None]):
        super().__init__(classes="run-question")
        self.title_text, self.value, self.hint, self.apply = title, value, hint, apply

    def compose(self) -> ComposeResult:
        with Vertical(classes="question-box"):
            yield Static(Text(self.title_text, style="bold"))
            yield Input(self.value, compact=True, id="question-input")
            yield Static(Text(self.hint, style="dim"), classes="question-keys")
            yield Static("", id="question-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        error = self.apply(event.value)
        if error is None:
            self.dismiss(event.value)
        else:
            self.query_one("#question-error", Static).update(Text(error, style="bold red"))

    @on(Input.Changed)
    def edited(self) -> None:
        self.query_one("#question-error", Static).update("")  # the error was about the old text

    def action_cancel(self) -> None:
        self.dismiss(None)


def _names(names: tuple[str, ...]) -> str:
    if len(names) <= LISTED_FILES + 1:  # "and 1 more" would take the room of its name
        return ", ".join(names)
    return ", ".join(names[:LISTED_FILES]) + f" and {len(names) - LISTED_FILES} more"


def delete_question(plan: DeletePlan) -> Text:
    """What deleting removes (this project's files) and what stays, in a few lines."""
    what = "race" if plan.kind == "experiment" else "run"
    text = Text(f"Delete the {what} {plan.path.name}?\n", style="bold")
    count = len(plan.remove)
    text.append(f"Removes the {count} file{'s' * (count != 1)} MiniGPT wrote in ")
    text.append(format_path(plan.path), style="bold")
    text.append(f": {_names(plan.remove)}.\n" if plan.remove else ": none.\n")
    if plan.removes_folder:
        text.append("Then the folder itself, which holds nothing else.")
    else:
        text.append(f"Keeps what MiniGPT did not write: {_names(plan.keep)}", style="bold yellow")
        text.append(" — so the folder stays.")
    return text


class DeleteQuestion(ModalScreen[bool]):
    """y deletes what the question lists; n or esc keeps everything."""

    BINDINGS = [
        Binding("y", "answer(True)", "Delete"),
        Binding("n,escape", "answer(False)", "Keep it"),
    ]

    def __init__(self, plan: DeletePlan) -> None:
        super().__init__(classes="run-question")
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(classes="question-box", id="delete-box"):
            yield Static(delete_question(self.plan), id="delete-text")
            yield Static(Text("y delete · n or esc keep it", style="dim"), classes="question-keys")

    def action_answer(self, delete: bool) -> None:
        self.dismiss(delete)


def diff_table(left: RunSummary, right: RunSummary, diffs: list[SettingDiff]) -> Table:
    """The settings that differ: one row each, the two runs' values side by side."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("setting", style="bold", no_wrap=True)
    table.add_column(run_label(left), overflow="fold")
    table.add_column(run_label(right), overflow="fold")
    for diff in diffs:
        table.add_row(diff.name, diff.left, diff.right)
    return table


class RunDiffScreen(ModalScreen[None]):
    """Two runs' settings, only those that differ; esc or v closes it."""

    BINDINGS = [Binding("escape,v", "dismiss", "Close")]

    def __init__(self, left: RunSummary, right: RunSummary, diffs: list[SettingDiff]) -> None:
        super().__init__(classes="run-question")
        self.left, self.right, self.diffs = left, right, diffs

    def compose(self) -> ComposeResult:
        left, right, count = run_label(self.left), run_label(self.right), len(self.diffs)
        with Vertical(classes="question-box", id="diff-box"):
            if self.diffs:
                settings = "1 setting differs" if count == 1 else f"{count} settings differ"
                title = f"{left} vs {right}: {settings}"
            else:
                title = f"{left} and {right} have the same settings, corpus and steps done"
            yield Static(Text(title, style="bold"), id="diff-title")
            if self.diffs:
                with VerticalScroll(id="diff-rows"):
                    yield Static(diff_table(self.left, self.right, self.diffs), id="diff-table")
            yield Static(Text("esc or v close", style="dim"), classes="question-keys")
