"""The bars above and below every screen: the studio's modes, and the keys that work here."""

from __future__ import annotations

from textual.app import ScreenStackError
from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Input, Static


class ModeBar(Static):
    """The top line: the studio's screens with their keys, the current one highlighted.

    The screens come from the app's `STUDIO_MODES` table, so a new screen appears here by itself.
    """

    def __init__(self, current: str) -> None:
        super().__init__(classes="mode-bar")
        self.current = current

    def on_mount(self) -> None:
        modes = self.app.STUDIO_MODES
        parts = ["[b]MiniGPT Studio[/b] "]
        for mode in modes:
            item = f"[@click=app.switch_mode('{mode.name}')] {mode.key} {mode.label} [/]"
            parts.append(f"[reverse b]{item}[/]" if mode.name == self.current else item)
        function_keys = f"{modes[0].function_key}-{modes[-1].function_key}".upper()
        parts.append(
            f"  [dim]({function_keys} inside a text box) · ? help · ctrl+p commands · q quit[/]"
        )
        self.update(" ".join(parts))


TYPED_KEYS = {"space", "enter", "backspace", "question_mark"}


class KeyBar(Static):
    """The keys of the focused widget and its screen, in one line at the bottom.

    A light stand-in for Textual's Footer, which mounts a widget per key and restyles them on
    every screen switch (about 60 ms of a switch here); this is one widget and one update.
    """

    def __init__(self) -> None:
        super().__init__(classes="key-bar")

    def on_mount(self) -> None:
        self.watch(self.screen, "focused", self.show_keys)
        self.show_keys()

    def show_keys(self, *_) -> None:
        try:
            if self.screen is not self.app.screen:
                return  # a background screen: it is redrawn when it comes back
        except ScreenStackError:
            return  # the app is closing
        # the screen's own keys first: a focused text box claims up/down for scrolling, but the
        # screen's binding still applies when the box cannot scroll
        active = self.screen.active_bindings
        focused = [a.binding for a in active.values() if a.node not in (self.screen, self.app)]
        chain = [
            *Binding.make_bindings(type(self.screen).BINDINGS),
            *focused,
            *Binding.make_bindings(type(self.app).BINDINGS),
        ]
        typing = isinstance(self.screen.focused, Input)
        parts, seen = [], set()
        for binding in chain:
            if not binding.show or binding.description in seen:
                continue
            if typing and binding.key in TYPED_KEYS or (typing and len(binding.key) == 1):
                continue  # the text box takes these keys
            seen.add(binding.description)
            shown = escape(binding.key_display or self.app.get_key_display(binding))
            parts.append(
                f"[@click=app.simulate_key('{binding.key}')][b]{shown}[/b] "
                f"{escape(binding.description)}[/]"
            )
        parts.append("[b]^p[/b] palette")
        self.update("  ".join(parts))
