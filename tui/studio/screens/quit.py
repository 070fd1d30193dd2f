"""The question asked before quitting while a run trains or a race runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


def quit_question(training_step: int | None, race_step: int | None) -> str:
    """What is running and what quitting does to it; a step is None for what is not running."""
    running = []
    if training_step is not None:
        running.append(f"a run is training (step {training_step})")
    if race_step is not None:
        running.append(f"a race is running (step {race_step})")
    what = " and ".join(running)
    it = "both" if len(running) > 1 else "it"
    return f"{what[0].upper()}{what[1:]}. Stop and save {it}, then quit? y / n"


class QuitQuestion(ModalScreen[bool]):
    """y: stop and save what runs, then quit; n or esc: keep going. The app's ctrl+c and ctrl+q
    keep their priority here, and a second one quits at once."""

    BINDINGS = [
        Binding("y", "answer(True)", "Stop, save and quit"),
        Binding("n,escape", "answer(False)", "Keep going"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(id="quit-question")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box"):
            yield Static(Text(self.question, style="bold"), id="quit-text")
            yield Static(
                Text(
                    "y stop, save, quit · n or esc keep going · ctrl+c quit now (still saves)",
                    style="dim",
                ),
                id="quit-keys",
            )

    def action_answer(self, stop: bool) -> None:
        self.dismiss(stop)
