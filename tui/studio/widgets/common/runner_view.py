"""Views whose results are computed on a screen's runner thread and posted back as messages:
the base, and the Model screen's kind that works on the text of its own field."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label

from core import GenerationSession
from tui.studio.messages import NO_WEIGHTS
from tui.studio.runner import GenerationRunner
from tui.studio.widgets.common.cells import input_from_text, text_from_input


class RunnerView(Vertical, can_focus=True):
    """`compute` submits work to the runner; `show` draws what came back."""

    @dataclass
    class Failed(Message):
        request: Hashable
        message: str

    def __init__(self, runner: GenerationRunner, id: str, classes: str = "xray-view") -> None:
        super().__init__(id=id, classes=classes)
        self.runner = runner
        self.stale = True  # the input changed since the last result
        self.busy = False  # a computation is on its way (for `request_update`)
        self.pending: Hashable | None = None  # the newest request submitted
        self.error = ""

    def compute(self) -> None:
        raise NotImplementedError

    def show(self) -> None:
        raise NotImplementedError

    def request_update(self) -> None:
        """Compute now, or once the result on its way is in: never two queued at once."""
        if self.busy:
            self.stale = True
            return
        self.busy, self.stale = True, False
        self.compute()

    def result_arrived(self) -> None:
        self.busy = False
        if self.stale:
            self.request_update()

    def submit(
        self,
        request: Hashable,
        work: Callable[[GenerationSession], Message],
        urgent: bool = False,
    ) -> None:
        """Run `work` on the runner's thread and post its message (or a Failed one) here;
        `urgent` work also runs between the steps of a running stream."""
        self.pending = request

        def command() -> None:
            session = self.runner.session
            if session is None:
                self.post_message(self.Failed(request, NO_WEIGHTS))
                return
            try:
                message = work(session)
            except ValueError as error:  # text this vocabulary cannot spell, a bad position
                self.post_message(self.Failed(request, str(error).splitlines()[0]))
                return
            self.post_message(message)

        (self.runner.submit_urgent if urgent else self.runner.submit)(command)

    @on(Failed)
    def failed(self, message: Failed) -> None:
        if message.request == self.pending:
            self.error = message.message
            if self.busy:
                self.result_arrived()
            self.show()

    def content_width(self) -> int:
        """Characters a line of this view may use (before the first layout: the terminal's)."""
        width = self.size.width or self.app.size.width
        return max(30, width - 4)


class TextView(RunnerView):
    """A view of the loaded weights on the text typed into its field."""

    SHARES_TEXT = True  # a text typed into another view's field comes here too

    @dataclass
    class TextChosen(Message):
        """The user typed a new text here; the screen's other views follow it."""

        text: str
        shared: bool = True  # False: the view's own field (a token), not the shared text

    def __init__(self, runner: GenerationRunner, id: str) -> None:
        super().__init__(runner, id=id)
        self.text = ""

    def text_row(self, label: str) -> ComposeResult:
        with Horizontal(classes="xray-text-row"):
            yield Label(label, classes="xray-text-label")
            yield Input(
                id=f"{self.id}-input",
                compact=True,
                placeholder=r"any text (\n = newline); enter computes, esc leaves",
                classes="xray-input",
            )

    def set_text(self, text: str) -> None:
        self.text = text
        self.query_one(Input).value = input_from_text(text)
        self.stale = True

    def action_edit(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def text_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.text = text_from_input(event.value)
        self.post_message(self.TextChosen(self.text, self.SHARES_TEXT))
        self.focus()
        self.stale = True
        self.update_data()

    def update_data(self) -> None:
        """Compute again if the text or the weights changed since the last result."""
        if self.stale and self.text:
            self.stale = False
            self.compute()
