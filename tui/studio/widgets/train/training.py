"""The Train screen's status bar above the plots: the run's state, figures and notices."""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from tui.studio.messages import TrainState
from tui.studio.widgets.common.notice import NOTICE_SECONDS, notice_text

STATE_LABELS = {
    TrainState.IDLE: ("○ ready", "dim"),
    TrainState.STARTING: ("◌ starting the training process…", "yellow"),
    TrainState.RUNNING: ("▶ training", "bold green"),
    TrainState.PAUSED: ("⏸ paused", "bold yellow"),
    TrainState.STOPPING: ("■ stopping, saving…", "bold yellow"),
    TrainState.FINISHED: ("✓ finished", "bold green"),
    TrainState.FAILED: ("✗ failed", "bold red"),
}


class StatusBar(Static):
    """Step / total, losses, tokens/s, elapsed, ETA, device, parameters, state; and below them,
    for a few seconds, the screen's latest notice (in place of a toast over the plots)."""

    def __init__(self, content: str = "", id: str | None = None) -> None:
        super().__init__(content, id=id)
        self._lines: int | None = None  # wrapped lines of the content shown
        self._status_parts: tuple[Text, tuple[Text, ...]] = (Text(), ())
        self.notice_text: Text | None = None
        self._notice_timer: Timer | None = None

    def show(self, text: Text, optional: tuple[Text, ...] = ()) -> None:
        """New content, several times a second; the `optional` parts follow while they fit on
        the line. A layout pass (of the whole screen) only when the number of lines changes."""
        self._status_parts = (text, optional)
        self._display()

    def notice(self, message: str, severity: str = "information") -> None:
        """A one-line notice under the status, for NOTICE_SECONDS."""
        self.notice_text = notice_text(message, severity)
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(NOTICE_SECONDS, self.clear_notice)
        self._display()

    def clear_notice(self) -> None:
        self.notice_text = None
        self._display()

    def on_resize(self) -> None:
        self._display()

    def _display(self) -> None:
        width = max(1, self.content_size.width)
        text, optional = self._status_parts
        line = text.copy()
        for part in optional:
            if line.cell_len + part.cell_len <= width:
                line.append_text(part)
        if self.notice_text is not None:
            line = Text("\n").join([line, self.notice_text])
        lines = len(line.wrap(self.app.console, width)) if self.size.width else None
        self.update(line, layout=lines != self._lines)
        self._lines = lines

    @staticmethod
    def state_text(state: TrainState, stopped: bool = False) -> Text:
        """The run's state as the line's first, coloured words (a finished run may have been
        stopped before its last step)."""
        label, style = STATE_LABELS[state]
        if stopped and state is TrainState.FINISHED:
            label = "■ stopped"
        return Text(f"{label} ", style=style)
