"""The attention X-ray: one head's scores stage by stage (q . k, scaled, masked, softmax) for one
query, its weights as a map or every head of the layer as a grid, on any text; switches drop
the 1/sqrt(D) scale or fill the mask with 0 instead of -inf."""

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

from core import AttentionStages, GenerationSession, attention_stages
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import score, shade_cell, shade_legend, token_label, weight
from tui.studio.widgets.common.runner_view import TextView

CELL = 7  # characters per key column of the stage table
LABEL = 11  # characters of the stage table's row labels
FUTURE_KEYS = 3  # keys right of the query the table shows, where the mask acts
MAX_MAP = 32  # rows and columns of the single-head map
MAX_GRID = 24  # rows and columns of each map in the grid of heads


@dataclass(frozen=True)
class AttentionRequest:
    text: str
    layer: int
    scale: bool
    zero_mask: bool


def key_window(query: int, length: int, width: int) -> range:
    """`width` positions that end a few past the query, so the mask shows beside the past."""
    end = min(length, query + 1 + FUTURE_KEYS)
    start = max(0, end - width)
    return range(start, min(length, start + width))


# one head of one layer: the keys of every view that walks them (the training X-ray too)
LAYER_HEAD_BINDINGS = [
    Binding("l", "layer(1)", "Layer", show=False),
    Binding("L", "layer(-1)", "Layer", key_display="l/L"),
    Binding("h", "head(1)", "Head", show=False),
    Binding("H", "head(-1)", "Head", key_display="h/H"),
]
# ... at one query
HEAD_QUERY_BINDINGS = [
    *LAYER_HEAD_BINDINGS,
    Binding("up", "query(-1)", "Query", show=False),
    Binding("down", "query(1)", "Query", key_display="↑↓"),
    Binding("home", "query_at(0)", "First", show=False),
    Binding("end", "query_at(-1)", "Last", show=False),
]


class AttentionXray(TextView):
    """Where one head looks on this text, stage by stage, and why (scaling, the mask)."""

    BINDINGS = [
        *HEAD_QUERY_BINDINGS,
        Binding("n", "toggle_scale", "Scale"),
        Binding("m", "toggle_mask", "Mask"),
        Binding("g", "toggle_grid", "Heads"),
        Binding("i", "edit", "Text"),
        Binding("pagedown", "scroll_view(1)", "Scroll", show=False),
        Binding("pageup", "scroll_view(-1)", "Scroll", show=False),
    ]

    layer = reactive(0, init=False)
    head = reactive(0, init=False)
    query = reactive(0, init=False)
    scale = reactive(True, init=False)
    zero_mask = reactive(False, init=False)
    grid = reactive(False, init=False)

    @dataclass
    class Computed(Message):
        request: AttentionRequest
        heads: tuple[AttentionStages, ...]

    def __init__(self, runner, id: str = "xray-attention") -> None:
        super().__init__(runner, id=id)
        self.source: str | None = None  # the weights it reads: checkpoint or run, and step
        self.num_layers = 1
        self.heads: tuple[AttentionStages, ...] = ()
        self.request: AttentionRequest | None = None  # what `heads` were computed for

    def compose(self) -> ComposeResult:
        yield Static("", id="xa-header", classes="xray-header")
        yield from self.text_row("text (i)")
        with VerticalScroll(id="xa-text-box", classes="xray-text-box", can_focus=False):
            yield Static("", id="xa-text")
        with VerticalScroll(id="xa-body", classes="xray-body", can_focus=False):
            yield Static("", id="xa-stages")
            yield Static(shade_legend(), id="xa-legend")
            yield Static("", id="xa-map")

    # --- computing (the work runs on the runner's thread) -----------------------------------
    def compute(self) -> None:
        request = AttentionRequest(self.text, self.layer, self.scale, self.zero_mask)
        fill = 0.0 if request.zero_mask else float("-inf")

        def work(session: GenerationSession) -> Message:
            heads = tuple(
                attention_stages(
                    session.model,
                    session.tokenizer,
                    request.text,
                    request.layer,
                    head,
                    request.scale,
                    fill,
                )
                for head in range(session.model.config.num_heads)
            )
            return self.Computed(request, heads)

        self.submit(request, work)
        self.show()

    @on(Computed)
    def computed(self, message: Computed) -> None:
        if message.request != self.pending:
            return  # a newer request is on its way
        text_changed = self.request is None or self.request.text != message.request.text
        self.heads, self.request, self.error = message.heads, message.request, ""
        length = len(self.heads[0].tokens)
        if text_changed or self.query >= length:
            self.query = length - 1  # the last position: the one generation would use
        self.head = min(self.head, len(self.heads) - 1)
        self.show()

    # --- actions ----------------------------------------------------------------------------
    def action_layer(self, delta: int) -> None:
        self.layer = (self.layer + delta) % self.num_layers

    def action_head(self, delta: int) -> None:
        if self.heads:
            self.head = (self.head + delta) % len(self.heads)

    def action_query(self, delta: int) -> None:
        self.query += delta

    def action_query_at(self, position: int) -> None:
        self.query = position if position >= 0 else len(self.tokens) - 1

    def action_toggle_scale(self) -> None:
        self.scale = not self.scale

    def action_toggle_mask(self) -> None:
        self.zero_mask = not self.zero_mask

    def action_toggle_grid(self) -> None:
        self.grid = not self.grid

    def action_scroll_view(self, pages: int) -> None:
        body = self.query_one("#xa-body", VerticalScroll)
        (body.scroll_page_down if pages > 0 else body.scroll_page_up)(animate=False)

    def validate_query(self, value: int) -> int:
        return max(0, min(value, len(self.tokens) - 1))

    def watch_layer(self) -> None:
        self.compute()

    def watch_scale(self) -> None:
        self.compute()

    def watch_zero_mask(self) -> None:
        self.compute()

    def watch_head(self) -> None:
        self.show()

    def watch_query(self) -> None:
        self.show()

    def watch_grid(self) -> None:
        self.show()

    # --- drawing ----------------------------------------------------------------------------
    @property
    def tokens(self) -> list[str]:
        return self.heads[0].tokens if self.heads else [""]

    @property
    def stages(self) -> AttentionStages | None:
        return self.heads[self.head] if self.heads else None

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#xa-header", Static).update(self.header())
        stages = self.stages
        if stages is None or self.error:
            message = self.error or ("computing…" if self.text else "type a text and press enter")
            self.query_one("#xa-stages", Static).update(Text(message, style="bold yellow"))
            if stages is None:
                return
        self.query_one("#xa-text", Static).update(self.whole_text(stages))
        box = self.query_one("#xa-text-box", VerticalScroll)
        late = self.query >= len(stages.tokens) // 2  # keep the query's end of the text in view
        self.call_after_refresh(box.scroll_end if late else box.scroll_home, animate=False)
        if not self.error:
            self.query_one("#xa-stages", Static).update(self.stage_table(stages))
        self.query_one("#xa-map", Static).update(self.head_grid() if self.grid else self.map())

    def header(self) -> Text:
        heads = len(self.heads) or 1
        text = Text()
        if self.source:
            text.append(f"{self.source} · ", style="dim")
        text.append(f"layer {self.layer + 1}/{self.num_layers}", style="bold")
        text.append(" (l) · ")
        text.append(f"head {self.head + 1}/{heads}", style="bold")
        text.append(" (h) · ")
        text.append(
            f"query {self.query} {visible_token(self.tokens[self.query])[:4]}", style="bold"
        )
        text.append(" (↑↓) · ")
        text.append("÷√D on" if self.scale else "÷√D OFF", style="" if self.scale else "bold red")
        text.append(" (n) · ")
        text.append(
            "mask 0: leaks" if self.zero_mask else "mask -inf",
            style="bold red" if self.zero_mask else "",
        )
        text.append(" (m) · ")
        text.append("all heads" if self.grid else "one head")
        text.append(" (g)")
        if self.request is not None and self.request != self.pending:
            text.append("  computing…", style="yellow")
        return text

    def whole_text(self, stages: AttentionStages) -> Text:
        """The text the head read; the cropped front dimmed behind a marker, the query reversed."""
        text = Text()
        if stages.cropped:
            kept = "".join(stages.tokens)
            front = self.text[: len(self.text) - len(kept)] if self.text.endswith(kept) else "…"
            text.append(front.replace("\n", "↵\n"), style="dim strike")
            text.append(
                f" ✂ {stages.cropped} tokens cropped: the model reads the last block_size = "
                f"{len(stages.tokens)} ✂ ",
                style="bold magenta",
            )
        window = key_window(self.query, len(stages.tokens), self.table_keys())
        for index, token in enumerate(stages.tokens):
            style = (
                "reverse bold" if index == self.query else ("underline" if index in window else "")
            )
            text.append(token.replace("\n", "↵\n") or "∅", style=style)
        return text

    def table_keys(self) -> int:
        return max(3, (self.content_width() - LABEL - 13) // CELL)

    def stage_table(self, stages: AttentionStages) -> Text:
        """The query's row through each stage, one column per key, aligned."""
        query = self.query
        keys = key_window(query, len(stages.tokens), self.table_keys())
        text = Text()
        text.append(
            f"query {query}'s row, keys {keys.start}..{keys.stop - 1} (underlined); right of "
            "the query: the future\n",
            style="dim",
        )
        text.append(" " * LABEL + "".join(f"{k:>{CELL}}" for k in keys) + "\n", style="dim")
        text.append(
            " " * LABEL
            + "".join(token_label(stages.tokens[k], CELL - 1).rjust(CELL) for k in keys)
            + "\n",
            style="bold",
        )
        scaled_label = "÷√D" if self.request is None or self.request.scale else "÷1 (off)"
        rows = (
            ("q · k", stages.scores, score, ""),
            (scaled_label, stages.scaled, score, f"  spread σ {stages.spread:.2f}"),
            ("masked", stages.masked, score, ""),
            ("softmax", stages.weights, weight, f"  {stages.entropy[query]:.2f} bits"),
        )
        for label, matrix, form, note in rows:
            text.append(label.ljust(LABEL), style="bold")
            for key in keys:
                value = matrix[query][key]
                style = "dim" if key > query else ""
                if (
                    key > query
                    and label in ("masked", "softmax")
                    and value != 0
                    and value != float("-inf")
                ):
                    style = "bold red"  # the future got through
                text.append(form(value).rjust(CELL), style=style)
            text.append(note + "\n", style="cyan")
        return text

    def map_rows(self) -> int:
        """Rows a map may take so that it fits under the stage table (scroll for more)."""
        body = self.query_one("#xa-body").size.height or self.app.size.height - 10
        return max(12, body - 13)  # the table, the legend and the map's own lines

    def map(self) -> Text:
        """The head's softmax weights around the query: a cell per (query, key) as it is."""
        stages = self.stages
        length = len(stages.tokens)
        size = min(length, MAX_MAP, max(4, (self.content_width() - 16) // 2), self.map_rows())
        start = max(0, min(self.query - (3 * size) // 4, length - size))
        rows = range(start, start + size)
        text = Text(
            f"head {self.head + 1}: queries {rows.start}..{rows.stop - 1} (rows) × keys; "
            "rows sum to 1, bits on the right\n",
            style="dim",
        )
        for row in rows:
            mark = "▸" if row == self.query else " "
            text.append(
                f"{mark}{row:>4} {token_label(stages.tokens[row], 2)} ",
                style="bold" if mark != " " else "dim",
            )
            for column in rows:
                text.append_text(shade_cell(stages.weights[row][column], 2))
            text.append(f" {stages.entropy[row]:.2f}\n", style="dim")
        text.append(
            " " * 9 + "".join(token_label(stages.tokens[k], 1).ljust(2) for k in rows), style="dim"
        )
        return text

    def head_grid(self) -> Text:
        """Every head of the layer side by side, one character per weight."""
        heads = self.heads
        length = len(heads[0].tokens)
        per_head = (self.content_width() - 6) // len(heads) - 2
        size = max(2, min(length, MAX_GRID, per_head, self.map_rows()))
        start = max(0, min(self.query - (3 * size) // 4, length - size))
        rows = range(start, start + size)
        text = Text(
            f"layer {self.layer + 1}, every head: queries and keys {rows.start}..{rows.stop - 1}, "
            "mean bits\n",
            style="dim",
        )
        text.append("      ")
        for index, stages in enumerate(heads):
            mean = sum(stages.entropy) / len(stages.entropy)
            title = f"h{index + 1} {mean:.1f}b"[:size].ljust(size + 2)
            text.append(title, style="reverse bold" if index == self.head else "bold")
        text.append("\n")
        for row in rows:
            mark = "▸" if row == self.query else " "
            text.append(f"{mark}{row:>4} ", style="bold" if mark != " " else "dim")
            for stages in heads:
                for column in rows:
                    text.append_text(shade_cell(stages.weights[row][column]))
                text.append("  ")
            text.append("\n")
        return text
