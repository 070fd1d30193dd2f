"""Pieces every studio screen shares: the mode bar, weight sources and text formatting."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import ScreenStackError
from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Input, Static

from core import WeightSnapshot

MODES = (("train", "1", "Train"), ("generate", "2", "Generate"), ("chat", "3", "Chat"))
MODES += (("model", "4", "Model"),)


class ModeBar(Static):
    """The top line: the studio's screens with their keys, the current one highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="mode-bar")
        self.current = current

    def on_mount(self) -> None:
        parts = ["[b]MiniGPT Studio[/b] "]
        for mode, key, label in MODES:
            item = f"[@click=app.switch_mode('{mode}')] {key} {label} [/]"
            parts.append(f"[reverse b]{item}[/]" if mode == self.current else item)
        parts.append("  [dim](F2-F5 inside a text box) · ? help · ctrl+p commands · q quit[/]")
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


@dataclass(frozen=True)
class WeightSource:
    """Where Generate and Chat get their own copy of the weights."""

    label: str
    checkpoint: str | None = None
    snapshot: WeightSnapshot | None = None


def visible_token(text: str) -> str:
    """A token as it should appear in a list: whitespace made visible."""
    return (
        text.replace(" ", "␠")
        .replace("\n", "↵")
        .replace("\t", "⇥")
        .replace("\r", "␍")
        .replace("\x00", "␀")
    ) or "∅"


def format_count(value: float) -> str:
    """1834560 -> 1.83M, 12000 -> 12.0k."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return (
                f"{value / limit:.3g}{suffix}"
                if value / limit < 100
                else f"{value / limit:.0f}{suffix}"
            )
    return f"{value:.0f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def probability_color(prob: float) -> str:
    """Red for unlikely tokens through yellow to green for confident ones."""
    p = min(1.0, max(0.0, prob))
    # a log scale: 1% and 100% are the ends, so mid-range probabilities are told apart
    t = min(1.0, max(0.0, (math.log10(max(p, 1e-3)) + 2) / 2))
    if t < 0.5:
        red, green = 255, int(80 + 350 * t)
    else:
        red, green = int(255 - 400 * (t - 0.5)), 255
    return f"rgb({max(60, red)},{min(255, green)},90)"


def probability_legend() -> Text:
    legend = Text("colour = the probability the model gave each token: ", style="dim")
    for label, prob in (("1%", 0.01), ("10%", 0.1), ("30%", 0.3), ("90%", 0.9)):
        legend.append("■ ", style=probability_color(prob))
        legend.append(f"{label}  ", style="dim")
    legend.append("underlined = picked by you", style="dim")
    return legend


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of eighth-blocks, `fraction` of `width` cells long."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])
