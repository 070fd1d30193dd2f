"""Inside one head: for the chosen query, the Q vector, every earlier K vector and V row as signed
heat strips, the softmax weights, the weighted sum of V that arrives, then every head
concatenated and the output projection back to C; the shape beside every strip."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import Static

from core import GenerationSession, HeadInside, inside_head
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import (
    signed_legend,
    signed_strip,
    token_label,
    weight,
    wrapped,
)
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.model.sourced import SourcedView
from tui.studio.widgets.model.xray import HEAD_QUERY_BINDINGS

ROW_LABEL = 9  # "▸ 12 tok " before each K and V row


@dataclass(frozen=True)
class HeadRequest:
    text: str
    layer: int
    head: int
    query: int | None  # None: the last position


def _scale(rows: list[list[float]]) -> float:
    return max((abs(v) for row in rows for v in row), default=0.0) or 1.0


class HeadInsideView(SourcedView):
    """One head of one layer at one query, every vector that takes part."""

    BINDINGS = [
        *SourcedView.BINDINGS,
        *HEAD_QUERY_BINDINGS,
    ]
    PREFIX = "xh"

    layer = reactive(0, init=False)
    head = reactive(0, init=False)

    def __init__(self, runner, id: str = "xray-head") -> None:
        super().__init__(runner, id=id)
        self.position: int | None = None  # the query; None: the last position

    def compose(self) -> ComposeResult:
        yield Static("", id="xh-header", classes="xray-header")
        yield from self.text_row("text (i)")
        yield from self.compose_body()

    def make_request(self) -> HeadRequest:
        return HeadRequest(self.text, self.layer, self.head, self.position)

    def work(self, session: GenerationSession, request: HeadRequest) -> HeadInside:
        length = min(len(session.tokenizer.encode(request.text)), session.model.config.block_size)
        query = None if request.query is None else min(request.query, length - 1)
        return inside_head(
            session.model, session.tokenizer, request.text, request.layer, request.head, query
        )

    def set_text(self, text: str) -> None:
        super().set_text(text)
        self.position = None  # a new text: its last position, the one generation would use

    def action_layer(self, delta: int) -> None:
        if self.info is not None:
            self.layer = (self.layer + delta) % self.info.num_layers

    def action_head(self, delta: int) -> None:
        if self.info is not None:
            self.head = (self.head + delta) % self.info.num_heads

    def action_query(self, delta: int) -> None:
        if self.result is not None:
            last = len(self.result.tokens) - 1
            self.position = max(0, min(last, self.result.query + delta))
            self.recompute()

    def action_query_at(self, position: int) -> None:
        self.position = None if position < 0 else position
        self.recompute()

    def watch_layer(self) -> None:
        self.recompute()

    def watch_head(self) -> None:
        self.recompute()

    def settings_line(self) -> Text:
        info = self.info
        layers, heads = (info.num_layers, info.num_heads) if info else (1, 1)
        text = Text()
        text.append(f"layer {self.layer + 1}/{layers}", style="bold")
        text.append(" (l) · ")
        text.append(f"head {self.head + 1}/{heads}", style="bold")
        text.append(" (h) · ")
        inside = self.result
        if inside is not None:
            token = visible_token(inside.tokens[inside.query])[:4]
            text.append(f"query {inside.query} {token}", style="bold")
        else:
            text.append("query: the last", style="bold")
        text.append(" (↑↓)")
        return text

    def draw(self, inside: HeadInside, width: int) -> Text:
        size, query = inside.head_dim, inside.query
        strip = max(8, (width - ROW_LABEL - 16) // 2)  # K row, weight, V row side by side
        qk_scale, v_scale = _scale([inside.q, *inside.keys]), _scale(inside.values)
        text = Text()
        if inside.cropped:
            text.append(f"✂ the first {inside.cropped} tokens were cropped to fit the block\n")
        text.append_text(
            wrapped(
                f"position {query} asks with Q; every position 0..{query} offers its K and "
                "carries its V; softmax(Q·K/√D) weighs the V rows, and their sum is what "
                "arrives.",
                width,
            )
        )
        text.append("Q".ljust(ROW_LABEL), style="bold")
        text.append_text(signed_strip(inside.q, qk_scale, strip))
        text.append(f"  [1, {size}]  query {query} {visible_token(inside.tokens[query])}\n")
        text.append("arrived".ljust(ROW_LABEL), style="bold")
        text.append_text(signed_strip(inside.arrived, v_scale, strip))
        text.append(f"  [1, {size}] = Σ weight × V row (the rows below)\n")
        text.append_text(self.concatenation(inside, width))
        text.append_text(signed_legend(qk_scale))
        text.append(f" (Q, K); V rows ±{v_scale:.2g}\n\n", style="dim")
        text.append(
            f"{'pos tok':<{ROW_LABEL}}"
            + f"K [{query + 1}, {size}]".ljust(strip + 1)
            + "weight    "
            + f"V [{query + 1}, {size}]\n",
            style="bold",
        )
        top = max(inside.weights)
        for position, (key, value, share) in enumerate(
            zip(inside.keys, inside.values, inside.weights, strict=True)
        ):
            mark = "▸" if position == query else " "
            text.append(f"{mark}{position:>3} {token_label(inside.tokens[position], 3)} ")
            text.append_text(signed_strip(key, qk_scale, strip))
            text.append(f" {weight(share):>6} ", style="bold" if share == top else "")
            text.append(bar(share / top, 3).ljust(3), style="cyan")
            text.append_text(signed_strip(value, v_scale, strip))
            text.append("\n")
        return text

    def concatenation(self, inside: HeadInside, width: int) -> Text:
        """Every head's output side by side, then the projection back to the stream's width."""
        heads, size, total = len(inside.heads), inside.head_dim, inside.width
        scale = _scale(inside.heads)
        room = width - ROW_LABEL - 2
        text = Text(f"{heads} heads concatenated [1, {heads} × {size} = {total}]", style="bold")
        text.append(f" (head {inside.head + 1} is the one above)\n", style="dim")
        text.append(" " * ROW_LABEL)
        line = Text()
        for index, output in enumerate(inside.heads):
            line.append("[" if index == inside.head else " ", style="bold yellow")
            line.append_text(signed_strip(output, scale))
            line.append("]" if index == inside.head else " ", style="bold yellow")
        text.append_text(line if line.cell_len <= room else self._wrapped(line, room))
        text.append("\n")
        text.append(f"× W_proj [{total}, {total}] → [1, {total}], added to the stream:\n")
        text.append(" " * ROW_LABEL)
        projected = signed_strip(inside.projected)
        text.append_text(
            projected if projected.cell_len <= room else self._wrapped(projected, room)
        )
        text.append("\n")
        return text

    @staticmethod
    def _wrapped(line: Text, room: int) -> Text:
        """A strip too wide for the view, folded into rows under each other."""
        rows = [line[i : i + room] for i in range(0, line.cell_len, room)]
        return Text("\n" + " " * ROW_LABEL).join(rows)
