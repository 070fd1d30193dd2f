"""A one-line text field that holds a bounded line: a long paste is cut to fit and said so, and
typing past the end is said once, not rung at every key."""

from __future__ import annotations

import time

from textual import events
from textual.widgets import Input

LINE_MAX_LENGTH = 4000  # a prompt or a chat line: far more than a model's context reads
FIELD_MAX_LENGTH = 1000  # any other field: a number, a path, a line of text to inspect
FULL_NOTICE_SECONDS = 3.0


class LineInput(Input):
    """An Input with a `max_length` always set. A paste keeps its lines, joined by `newline`
    (Textual's Input keeps only the first), and is cut at the limit instead of refused whole."""

    def __init__(
        self,
        value: str | None = None,
        *,
        max_length: int = LINE_MAX_LENGTH,
        newline: str = " ",
        what: str = "this field",
        **kwargs,
    ) -> None:
        super().__init__(value, max_length=max_length, **kwargs)
        self.newline = newline
        self.what = what  # how a notice names the field
        self._said_full_at = -FULL_NOTICE_SECONDS

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # Input's own handler would insert the first line again
        text = self.newline.join(event.text.splitlines())
        start, end = sorted(self.selection)
        room = self.max_length - (len(self.value) - (end - start))
        if len(text) > room:
            text = text[: max(0, room)]
            self.screen.notify(
                f"the paste was cut to {len(text):,} characters: {self.what} holds at most "
                f"{self.max_length:,}",
                severity="warning",
            )
        if text:
            self.replace(text, start, end)

    def restricted(self) -> None:
        """Keys past the limit (thousands, when a paste arrives as keystrokes): a notice every
        few seconds instead of a bell at each."""
        now = time.monotonic()
        if now - self._said_full_at >= FULL_NOTICE_SECONDS:
            self._said_full_at = now
            self.screen.notify(
                f"{self.what} holds at most {self.max_length:,} characters", severity="warning"
            )
