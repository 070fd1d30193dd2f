"""What every studio screen shares: esc leaves a text field, each time a screen is shown focus
goes to the widget that screen is for, and what the app asks of each (weights, runs, quitting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from tui.studio.fields import in_text_field
from tui.studio.messages import WeightSource
from tui.studio.widgets.common.bars import KeyBar
from tui.studio.widgets.common.notice import NoticeLine


@dataclass(frozen=True)
class RunningWork:
    """A run a screen has going that quitting would cut short."""

    kind: Literal["training", "race"]  # how the quit question names it
    step: int


def takes_focus(widget: Widget) -> bool:
    """Focusable and shown: not disabled, not hidden by a switcher or a class."""
    return widget.focusable and all(
        node.display for node in widget.ancestors_with_self if isinstance(node, Widget)
    )


def styled_now(screen: Screen, app: App) -> None:
    """Mark a screen not yet shown as styled by the app's current stylesheet and give it the
    breakpoint classes (`-wide`, `-tall`) of the app's size. Without this, Textual re-parses
    every CSS source and restyles every widget of the app on a screen's first visit, twice,
    then restyles the new screen's widgets again for each breakpoint class its first resize
    adds: most of a first visit's time. Its widgets are styled as they mount either way."""
    screen._css_update_count = app._css_update_count
    for size, breakpoints in (
        (app.size.width, app.HORIZONTAL_BREAKPOINTS),
        (app.size.height, app.VERTICAL_BREAKPOINTS),
    ):
        reached = [(edge, name) for edge, name in breakpoints or () if size >= edge]
        if reached:
            screen.add_class(max(reached)[1])


class KeepsStyles(Screen):
    """A screen that is not restyled whole each time it is shown when nothing changed."""

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every widget of a screen each time it is shown, in case the CSS
        # changed while it was hidden; a change of theme or stylesheet bumps the app's CSS count
        # and restyles the screen on its way in, and a class set while hidden restyles at once,
        # so a screen styled against the current count has nothing to redo
        if self._css_update_count == self.app._css_update_count:
            event.refresh_styles = False


class StudioScreen(KeepsStyles):
    """A studio screen: typing stays in the field that has focus, esc leaves the field for the
    screen's main widget (a second esc does the screen's own esc job), and every time the screen
    is shown, focus goes to `ENTRY_FOCUS`, by default the main widget.

    Textual keeps printable keys in a focused Input, TextArea or Select menu: it drops them from
    the bindings of the screen and the app, so a digit, q or ? typed there is text, while
    function and ctrl keys keep their bindings.
    """

    # built out of view soon after the studio opens: for a screen whose widgets take Textual
    # longer to mount than a first visit should take
    BUILD_AHEAD = False
    AUTO_FOCUS = ""  # focus is placed by `focus_entry` on every showing, not only the first
    MAIN_FOCUS: tuple[str, ...] = ()  # selectors; the first widget that takes focus is the main
    ENTRY_FOCUS: tuple[str, ...] = ()  # where focus goes when the screen is shown; () = main

    BINDINGS = [Binding("escape", "escape", "Leave field", show=False)]

    def main_widget(self) -> Widget | None:
        """The widget esc returns to: the screen's main non-text widget."""
        return self._first_taking_focus(self.MAIN_FOCUS)

    def entry_widget(self) -> Widget | None:
        """The widget focused each time the screen is shown."""
        return self._first_taking_focus(self.ENTRY_FOCUS) or self.main_widget()

    def _first_taking_focus(self, selectors: tuple[str, ...]) -> Widget | None:
        for selector in selectors:
            for widget in self.query(selector):
                if takes_focus(widget):
                    return widget
        return None

    def focus_entry(self) -> None:
        """Focus the entry widget (keys then go to the screen if it has none)."""
        self.set_focus(self.entry_widget())

    def action_escape(self) -> None:
        """Leave a text field; outside one, do what esc does on this screen."""
        if in_text_field(self.focused):
            self.set_focus(self.main_widget())
        else:
            self.escape_job()

    def escape_job(self) -> None:
        """What esc does here once no text field has focus: nothing, unless a screen says."""

    def on_mount(self) -> None:
        self.focus_entry()  # the first showing; the app's switch_mode focuses the later ones

    def on_screen_resume(self) -> None:
        # a key bar skips its updates while its screen is out of view (where what its keys
        # do may change: runs marked on Runs for Train's plots), and a screen built ahead of
        # its first showing has its focus placed already, so no focus change redraws it
        for bar in self.query(KeyBar):
            bar.show_keys()

    def notify(self, message: str, *, severity: str = "information", **_) -> None:
        """A notice is a line above the key bar for a few seconds, never a toast over a panel."""
        lines = self.query(NoticeLine)
        if lines:
            lines.first().show(message, severity)
            return
        line = NoticeLine()
        self.mount(line)  # last in the screen's flow: just above the docked key bar
        line.show(message, severity)

    def key_label(self, action: str) -> str | None:
        """What a key does now, where that depends on the screen's state (None: its binding's
        own description). The key bar shows it."""
        return None

    def key_shown(self, action: str) -> bool:
        """Whether the key bar lists a key now (one with nothing to act on may wait until it
        has: a short terminal keeps its rows)."""
        return True

    # --- what the app asks of every screen; the defaults suit one that runs and samples nothing
    def load_source(self, source: WeightSource | None) -> None:
        """Sample from these weights from now on (the screens that sample override this)."""

    def running_work(self) -> RunningWork | None:
        """What runs here that quitting would cut short; None once it is stopping to quit."""
        return None

    def stop_and_exit(self) -> None:
        """Stop what runs here and save it, then quit the app."""

    def stop_work(self) -> None:
        """Ask what runs here to stop and save, without waiting (the app is ending)."""

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop what runs here and wait until it has saved (the app has ended)."""
