"""The Chat screen's conversation: each exchange (a line and the reply to it) as turns, and the
transcript a save writes."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

OUTSIDE = "strike dim"  # text out of the context window: the model can no longer read it


class Turn(Static):
    """One turn of the conversation."""


@dataclass
class Exchange:
    """The user's line and the model's reply to it, as shown."""

    line: str
    asked: Turn
    reply: Turn
    text: str = ""  # the reply so far
    ending: str = ""  # "[stopped]" or "[cut at N tokens]" once the reply ended that way
    outside: int = 0  # characters of the line, its newline and the reply out of the window


class Conversation(VerticalScroll):
    """The turns, newest at the bottom, and the exchanges they show."""

    def __init__(self) -> None:
        super().__init__(id="conversation")
        self.exchanges: list[Exchange] = []

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def note(self, text: Text) -> None:
        """A line about the chat, not part of it."""
        self._add(Turn(text, classes="turn note"))

    def ask(self, line: str) -> Exchange:
        """A new exchange: the line, and a reply still to come."""
        asked = self._add(Turn(Text(line, style="bold"), classes="turn user"))
        reply = self._add(Turn(Text("…", style="dim"), classes="turn model"))
        exchange = Exchange(line, asked, reply)
        self.exchanges.append(exchange)
        return exchange

    def show_reply(self, exchange: Exchange) -> None:
        text = Text(exchange.text.strip("\n") or "…")
        leading = len(exchange.text) - len(exchange.text.lstrip("\n"))
        gone = exchange.outside - len(exchange.line) - 1 - leading  # of the reply shown
        if gone > 0:
            text.stylize(OUTSIDE, 0, gone)
        if exchange.ending:
            text.append(f"  {exchange.ending}", style="dim")
        exchange.reply.update(text)
        self.scroll_end(animate=False)

    def mark_window(self, outside: int, first: int) -> None:
        """Strike through what the model can no longer read: every exchange before `first`
        (another session's), then the first `outside` characters of the session's own, the
        way the session holds them: each line, a newline, the reply."""
        for index, exchange in enumerate(self.exchanges):
            size = len(exchange.line) + 1 + len(exchange.text)
            if index < first:
                gone = size
            else:
                gone, outside = min(outside, size), max(0, outside - size)
            if gone == exchange.outside:
                continue
            exchange.outside = gone
            line = Text(exchange.line, style="bold")
            line.stylize(OUTSIDE, 0, gone)
            exchange.asked.update(line)
            self.show_reply(exchange)

    def take_back(self) -> Exchange | None:
        """Remove the last exchange from the screen; returns it."""
        if not self.exchanges:
            return None
        exchange = self.exchanges.pop()
        exchange.asked.remove()
        exchange.reply.remove()
        return exchange

    def clear(self) -> None:
        self.remove_children()
        self.exchanges = []

    def transcript(self) -> str:
        """The exchanges as plain text: each line after "> ", as `minigpt chat` shows it, then
        the reply."""
        parts = []
        for exchange in self.exchanges:
            reply = exchange.text.strip("\n")
            ending = f" {exchange.ending}" if exchange.ending else ""
            parts.append(f"> {exchange.line}\n{reply}{ending}\n")
        return "\n".join(parts)

    def _add(self, turn: Turn) -> Turn:
        self.mount(turn)
        self.scroll_end(animate=False)
        return turn
