"""A one-line notice above the key bar: what a toast would say, without covering a panel."""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

NOTICE_SECONDS = 6.0
NOTICE_STYLES = {"information": "bold cyan", "warning": "bold yellow", "error": "bold red"}


def notice_text(message: str, severity: str = "information") -> Text:
    """A notice as the studio writes it, wherever it is shown."""
    return Text(f"› {message}", style=NOTICE_STYLES.get(severity, "bold"))


class NoticeLine(Static):
    """Shown for NOTICE_SECONDS after each notice, hidden otherwise."""

    def __init__(self) -> None:
        super().__init__("", classes="notice-line")
        self.display = False
        self.message: str | None = None
        self._timer: Timer | None = None

    def show(self, message: str, severity: str = "information") -> None:
        self.message = message
        self.update(notice_text(message, severity))
        self.display = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(NOTICE_SECONDS, self.clear)

    def clear(self) -> None:
        self.message = None
        self.display = False
