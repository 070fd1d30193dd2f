"""The chat input: a line field whose up and down keys recall the lines sent before, as in a
shell."""

from __future__ import annotations

from textual.binding import Binding

from tui.studio.widgets.common.line_input import LineInput

HISTORY_LINES = 200  # lines ↑ can recall


class HistoryInput(LineInput):
    """↑ recalls the previous line sent, ↓ the next, and past the newest the line being typed
    (kept while browsing). The keys stay here at either end, so they never reach the screen."""

    BINDINGS = [
        Binding("up", "older", "History", show=False),
        Binding("down", "newer", "History", key_display="↑↓"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []
        self.index = 0  # into lines; len(lines) is the line being typed
        self.draft = ""

    def remember(self, line: str) -> None:
        """A line sent (or set aside): the newest in the history, once, and browsing starts
        again from the end."""
        if line and (not self.lines or self.lines[-1] != line):
            self.lines = [*self.lines[-(HISTORY_LINES - 1) :], line]
        self.index, self.draft = len(self.lines), ""

    def action_older(self) -> None:
        if self.index == 0:
            return
        if self.index == len(self.lines):
            self.draft = self.value
        self.index -= 1
        self._show(self.lines[self.index])

    def action_newer(self) -> None:
        if self.index >= len(self.lines):
            return
        self.index += 1
        self._show(self.lines[self.index] if self.index < len(self.lines) else self.draft)

    def _show(self, line: str) -> None:
        self.value = line
        self.cursor_position = len(line)
