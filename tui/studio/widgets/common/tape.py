"""The prediction tape: every position's guess at the next token of the text so far, with
p(target) and -log p; their mean is the training loss on that chunk. `tape_rows` draws one,
here and on the Train screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import GenerationSession, Tape, prediction_tape
from tui.studio.widgets.common.cells import token_label
from tui.studio.widgets.common.probability import probability_color
from tui.studio.widgets.common.runner_view import RunnerView

CELL = 7  # characters per position
LABEL = 9


class TapeView(RunnerView):
    """The text's T predictions from one forward pass, wrapped like lines of text."""

    @dataclass
    class Computed(Message):
        request: int
        tape: Tape

    def __init__(self, runner) -> None:
        super().__init__(runner, id="gen-tape", classes="lab-view")
        self.tape: Tape | None = None
        self.requests = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="tape-header")
        with VerticalScroll(id="tape-body", can_focus=False):
            yield Static("", id="tape-rows")

    def compute(self) -> None:
        self.requests += 1
        request = self.requests

        def work(session: GenerationSession) -> Message:
            tape = prediction_tape(session.model, session.tokenizer, session.text)
            return self.Computed(request, tape)

        self.submit(request, work, urgent=True)

    @on(Computed)
    def computed(self, message: Computed) -> None:
        self.tape, self.error = message.tape, ""
        self.result_arrived()
        self.show()

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        if not self.is_mounted:
            return
        tape = self.tape
        header = Text()
        if self.error or tape is None:
            header.append(self.error or "computing…", style="bold yellow")
            self.query_one("#tape-header", Static).update(header)
            if tape is None:
                return
            header.append("\n")
        count = len(tape.losses)
        header.append(f"mean -log p(target) = {tape.mean_loss:.4f}", style="bold")
        header.append(
            f" nats over {count} predictions = the training loss on this chunk; one forward "
            f"pass made all {count}, generation uses only the last.",
            style="dim",
        )
        self.query_one("#tape-header", Static).update(header)
        self.query_one("#tape-rows", Static).update(self.rows(tape))
        body = self.query_one("#tape-body", VerticalScroll)
        self.call_after_refresh(body.scroll_end, animate=False)  # once the new rows are laid out

    def rows(self, tape: Tape) -> Text:
        return tape_rows(tape, self.content_width())


def tape_rows(tape: Tape, width: int) -> Text:
    """Chunks of positions, as many as fit in `width`: input, target (the input shifted by
    one), p(target), the top guess and -log p, coloured by p(target)."""
    per_line = max(4, (width - LABEL) // CELL)
    text = Text()
    for start in range(0, len(tape.losses), per_line):
        span = range(start, min(len(tape.losses), start + per_line))
        text.append("position".ljust(LABEL) + "".join(f"{i:>{CELL}}" for i in span), "dim")
        text.append("\ninput".ljust(LABEL + 1), style="bold")
        for i in span:
            text.append(token_label(tape.inputs[i], CELL - 1).rjust(CELL))
        text.append("\ntarget".ljust(LABEL + 1), style="bold")
        for i in span:
            style = probability_color(tape.target_probs[i])
            text.append(token_label(tape.targets[i], CELL - 1).rjust(CELL), style=style)
        text.append("\np(target)".ljust(LABEL + 1), style="bold")
        for i in span:
            prob = tape.target_probs[i]
            text.append(f"{prob:.3f}".rjust(CELL), style=probability_color(prob))
        text.append("\ntop guess".ljust(LABEL + 1), style="bold")
        for i in span:
            right = tape.guesses[i] == tape.targets[i]
            label = token_label(tape.guesses[i], CELL - 1).rjust(CELL)
            text.append(label, style="green" if right else "dim")
        text.append("\n-log p".ljust(LABEL + 1), style="bold")
        for i in span:
            text.append(f"{tape.losses[i]:.3f}".rjust(CELL), style="cyan")
        text.append("\n\n")
    return text
