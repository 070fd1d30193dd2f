"""The bars above and below every screen: the studio's modes, and the keys that work here."""

from __future__ import annotations

from functools import lru_cache

from rich.text import Text
from textual.app import ScreenStackError
from textual.binding import Binding
from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from tui.studio.fields import in_text_field


class ModeBar(Static):
    """The top line: the studio's screens with their keys, the current one highlighted.

    The screens come from the app's `STUDIO_MODES` table, so a new screen appears here by itself.
    On a narrow terminal the line drops its longer words, but keeps every screen and `? help`.
    """

    def __init__(self, current: str) -> None:
        super().__init__(classes="mode-bar")
        self.current = current

    def on_mount(self) -> None:
        self.show_modes()

    def on_resize(self) -> None:
        self.show_modes()

    def show_modes(self) -> None:
        modes = self.app.STUDIO_MODES
        items = []
        for mode in modes:
            item = f"[@click=app.switch_mode('{mode.name}')] {mode.key} {mode.label} [/]"
            items.append(f"[reverse b]{item}[/]" if mode.name == self.current else item)
        function_keys = f"{modes[0].function_key}-{modes[-1].function_key}".upper()
        wide, tight = " ".join(items), "".join(items)
        lines = (  # from the most to the least said; the first that fits is shown
            f"[b]MiniGPT Studio[/b]  {wide}   [dim]({function_keys} inside a text box) · ? help"
            " · ctrl+p commands · q quit[/]",
            f"[b]MiniGPT Studio[/b]  {wide}   [dim]? help · ctrl+p commands · q quit[/]",
            f"[b]MiniGPT[/b] {tight} [dim]? help · q quit[/]",
            f"{tight} [dim]? help · q quit[/]",
            f"{tight} [dim]? help[/]",
        )
        self.update(fitting(lines, self.size.width))


def fitting(versions: tuple[str | Text, ...], width: int) -> str | Text:
    """The first version (markup or Text) that fits in `width` cells, else the last."""
    for version in versions:
        length = version.cell_len if isinstance(version, Text) else cell_length(version)
        if length <= width:
            return version
    return versions[-1]


@lru_cache(maxsize=4096)
def cell_length(markup: str) -> int:
    """Cells the markup takes on screen; the key bar measures the same few items again at
    every focus change and resize."""
    return Content.from_markup(markup).cell_length


class FitLine(Static):
    """A line that shows the longest of its versions that fits, and picks again when its width
    changes; `update` shows one text as it is. From 120 cells wide it may take `wide_lines`
    lines: room a narrow terminal has not."""

    WIDE = 120

    def __init__(self, content: str = "", *, wide_lines: int = 1, **kwargs) -> None:
        super().__init__(content, **kwargs)
        self.wide_lines = wide_lines
        self.versions: tuple[str | Text, ...] = ()

    def show(self, *versions: str | Text) -> None:
        """The versions, from the most to the least said."""
        self.versions = versions
        self.pick()

    def update(self, content="", **kwargs) -> None:
        self.versions = ()
        super().update(content, **kwargs)

    def pick(self) -> None:
        if not self.versions:
            return
        width = self.size.width
        lines = self.wide_lines if width >= self.WIDE else 1
        super().update(fitting(self.versions, width * lines) if width else self.versions[0])

    def on_resize(self) -> None:
        self.pick()
        # the layout pass that resized it measured its height with the version picked for the
        # old width (a long one wrapped to three rows where one now fits): measure again
        self.call_after_refresh(self.refresh, layout=True)


TYPED_KEYS = {"space", "enter", "backspace", "question_mark"}


class KeyBar(Static):
    """The keys of the focused widget and its screen, at the bottom: one line where they fit,
    more where they do not, so no key is ever cut off.

    A light stand-in for Textual's Footer, which mounts a widget per key and restyles them on
    every screen switch (a visible part of a switch's time); this is one widget and one update.
    """

    def __init__(self) -> None:
        super().__init__(classes="key-bar")
        self.items: list[str] = []

    def on_mount(self) -> None:
        self.watch(self.screen, "focused", self.show_keys)
        self.show_keys()

    def on_resize(self) -> None:
        self.lay_out()

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
        typing = in_text_field(self.screen.focused)
        # a text field's own keys are its own (the chat input's up and down recall lines)
        claimed = {binding.key for binding in focused} if typing else set()
        screen = [
            binding
            for binding in Binding.make_bindings(type(self.screen).BINDINGS)
            if binding.key not in claimed
        ]
        chain = [*screen, *focused, *Binding.make_bindings(type(self.app).BINDINGS)]
        shown_now = getattr(self.screen, "key_shown", lambda action: True)
        items, seen = [], set()
        for binding in chain:
            if not binding.show or binding.description in seen or not shown_now(binding.action):
                continue
            if typing and binding.key in TYPED_KEYS or (typing and len(binding.key) == 1):
                continue  # the text box takes these keys
            seen.add(binding.description)
            shown = escape(binding.key_display or self.app.get_key_display(binding))
            label = getattr(self.screen, "key_label", lambda action: None)(binding.action)
            items.append(
                f"[@click=app.simulate_key('{binding.key}')][b]{shown}[/b] "
                f"{escape(label or binding.description)}[/]"
            )
        items.append("[b]^p[/b] palette")
        self.items = items
        self.lay_out()

    def lay_out(self) -> None:
        """The keys in as few lines as the width allows, never splitting one."""
        width = self.size.width
        lines: list[list[str]] = [[]]
        used = 0
        for item in self.items:
            length = cell_length(item)
            if lines[-1] and width and used + 2 + length > width:
                lines.append([])
                used = 0
            used += length + (2 if lines[-1] else 0)
            lines[-1].append(item)
        self.update("\n".join("  ".join(line) for line in lines))
