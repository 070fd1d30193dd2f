"""The perturbation probe: change one token of a text and see, per position, how far the first
block's attention output, its feed-forward network alone and the whole model's logits moved."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from core import GenerationSession, Probe, perturbation_probe
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import change, token_label
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.common.runner_view import TextView

COLUMNS = (
    ("attention", "attention_change"),
    ("FFN alone", "ffn_change"),
    ("whole model", "max_change"),
)


@dataclass(frozen=True)
class ProbeRequest:
    text: str
    position: int


def verdicts(probe: Probe) -> list[tuple[str, bool, str]]:
    """The two facts the probe shows, each with whether this result bears it out."""
    position = probe.position
    left = range(position)
    causal = all(probe.attention_change[i] == 0 and probe.max_change[i] == 0 for i in left)
    others = [i for i in range(len(probe.tokens)) if i != position]
    independent = all(probe.ffn_change[i] == 0 for i in others) and probe.ffn_change[position] > 0
    return [
        (
            "causality",
            causal,
            f"positions 0..{position - 1} moved exactly 0 in attention and the whole model: "
            "a change can only reach later positions"
            if position
            else "nothing lies left of position 0: move right (→) to see it",
        ),
        (
            "position independence",
            independent,
            f"the FFN alone moved only at position {position}: it works on each position "
            "separately, so mixing across positions is attention's job",
        ),
    ]


class ProbeView(TextView):
    """Pick a position (←→); every position's change is listed, the exact zeros as 0."""

    BINDINGS = [
        Binding("left", "move(-1)", "Position", show=False),
        Binding("right", "move(1)", "Position", key_display="←→"),
        Binding("home", "move_to(0)", "First", show=False),
        Binding("end", "move_to(-1)", "Last", show=False),
        Binding("i", "edit", "Text"),
        Binding("pagedown", "scroll_view(1)", "Scroll", show=False),
        Binding("pageup", "scroll_view(-1)", "Scroll", show=False),
    ]

    position = reactive(0, init=False)

    @dataclass
    class Computed(Message):
        request: ProbeRequest
        probe: Probe
        cropped: int  # tokens cut from the front to fit block_size

    def __init__(self, runner, id: str = "xray-probe") -> None:
        super().__init__(runner, id=id)
        self.source: str | None = None  # the weights it reads: checkpoint or run, and step
        self.probe: Probe | None = None
        self.length = 0  # tokens of the text, once one result told
        self.cropped = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="xp-header", classes="xray-header")
        yield from self.text_row("text (i)")
        yield Static("", id="xp-verdicts")
        yield Static("", id="xp-columns")
        with VerticalScroll(id="xp-body", classes="xray-body", can_focus=False):
            yield Static("", id="xp-table")

    def compute(self) -> None:
        request = ProbeRequest(self.text, self.position)

        def work(session: GenerationSession) -> Message:
            length = len(session.tokenizer.encode(request.text))
            kept = min(length, session.model.config.block_size)
            position = min(request.position, kept - 1)  # a shorter text: its last position
            probe = perturbation_probe(session.model, session.tokenizer, request.text, position)
            return self.Computed(request, probe, length - kept)

        self.submit(request, work)
        self.show()

    @on(Computed)
    def computed(self, message: Computed) -> None:
        if message.request != self.pending:
            return
        self.probe, self.error, self.cropped = message.probe, "", message.cropped
        self.length = len(message.probe.tokens)
        self.show()

    def action_move(self, delta: int) -> None:
        self.position += delta

    def action_move_to(self, position: int) -> None:
        self.position = position if position >= 0 else self.length - 1

    def action_scroll_view(self, pages: int) -> None:
        body = self.query_one("#xp-body", VerticalScroll)
        (body.scroll_page_down if pages > 0 else body.scroll_page_up)(animate=False)

    def validate_position(self, value: int) -> int:
        return max(0, min(value, self.length - 1)) if self.length else max(0, value)

    def watch_position(self) -> None:
        self.compute()

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        if not self.is_mounted:
            return
        probe = self.probe
        header = Text()
        if self.source:
            header.append(f"{self.source} · ", style="dim")
        header.append(f"position {self.position}", style="bold")
        if probe is not None:
            header.append(
                f" {visible_token(probe.tokens[probe.position])} → "
                f"{visible_token(probe.replacement)}",
                style="bold",
            )
        header.append(
            " (←→ moves) · each column: the largest |change| of one position's vector when "
            "this one token is swapped for the next token id"
        )
        if self.cropped:
            header.append(
                f" · ✂ the first {self.cropped} tokens were cropped to fit block_size",
                style="bold magenta",
            )
        if probe is not None and self.pending != ProbeRequest(self.text, probe.position):
            header.append("  computing…", style="yellow")
        self.query_one("#xp-header", Static).update(header)
        verdict_line = Text()
        if self.error or probe is None:
            message = self.error or ("computing…" if self.text else "type a text and press enter")
            verdict_line.append(message, style="bold yellow")
        if probe is not None:
            for name, holds, what in verdicts(probe):
                if verdict_line:
                    verdict_line.append("\n")
                verdict_line.append(
                    "✓ " if holds else "✗ ", style="bold green" if holds else "bold red"
                )
                verdict_line.append(name, style="bold")
                verdict_line.append(f": {what}", style="dim")
        self.query_one("#xp-verdicts", Static).update(verdict_line)
        if probe is not None:
            self.query_one("#xp-columns", Static).update(self.columns())
            self.query_one("#xp-table", Static).update(self.table(probe))
            body = self.query_one("#xp-body", VerticalScroll)
            body.scroll_to(y=max(0, probe.position - 4), animate=False)

    def bar_width(self) -> int:
        return max(3, (self.content_width() - 16) // len(COLUMNS) - 10)

    def columns(self) -> Text:
        width = self.bar_width() + 10
        return Text(" pos token " + "".join(f"{name:>8}".ljust(width) for name, _ in COLUMNS))

    def table(self, probe: Probe) -> Text:
        bar_width = self.bar_width()
        largest = {field: max(getattr(probe, field)) or 1.0 for _, field in COLUMNS}
        text = Text()
        for index, token in enumerate(probe.tokens):
            here = index == probe.position
            mark = "▸" if here else " "
            text.append(f"{mark}{index:>3} {token_label(token, 5)} ", style="bold" if here else "")
            for _, field in COLUMNS:
                value = getattr(probe, field)[index]
                style = "green" if value == 0 else ("bold yellow" if here else "cyan")
                text.append(f"{change(value):>8} ", style=style)
                text.append(
                    bar(value / largest[field], bar_width).ljust(bar_width + 1), style=style
                )
            text.append("\n")
        return text
