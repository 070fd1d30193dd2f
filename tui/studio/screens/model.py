"""The Model screen: the shape journey of a forward pass, parameter counts and attention maps."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from core import ShapeStage, attention_maps, parameter_counts, shape_journey
from tui.studio.formatting import format_count, token_kind, visible_token
from tui.studio.messages import NO_WEIGHTS, ModelInfo, ModelLoaded, WeightSource
from tui.studio.runner import GenerationRunner
from tui.studio.widgets.bars import KeyBar, ModeBar

ATTENTION_TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?"
MAX_ATTENTION_TOKENS = 24
SHADES = "·░▒▓█"  # the weight shows in plain text too, not only in colour


def _spells(tokenizer, text: str) -> bool:
    """Whether the vocabulary can spell `text` (a character corpus may lack some)."""
    try:
        tokenizer.encode(text)
    except ValueError:
        return False
    return True


def heat_color(weight: float) -> str:
    """Dark for no attention, through blue to bright yellow for all of it."""
    level = min(1.0, max(0.0, weight)) ** 0.5  # spreads out the many small weights
    red = int(25 + 230 * level)
    green = int(25 + 200 * level)
    blue = int(60 + 120 * (1 - abs(2 * level - 1)))
    return f"rgb({red},{green},{blue})"


class ModelScreen(Screen):
    """What the loaded weights are: real shapes at each stage, where the parameters sit."""

    BINDINGS = [
        Binding("l", "layer(1)", "Next layer"),
        Binding("h", "head(1)", "Next head"),
    ]

    @dataclass
    class Described(Message):
        stages: tuple[ShapeStage, ...]
        parameters: tuple[tuple[str, int], ...]

    @dataclass
    class Attention(Message):
        layer: int
        tokens: tuple[str, ...]
        maps: tuple

    def __init__(self) -> None:
        super().__init__(id="model")
        self.runner = GenerationRunner(self, "model-view")
        self.info: ModelInfo | None = None
        self.attention_layer = 0
        self.attention_head = 0
        self.attention: ModelScreen.Attention | None = None
        self.stages: tuple[ShapeStage, ...] = ()
        self.parameters: tuple[tuple[str, int], ...] = ()

    def compose(self) -> ComposeResult:
        yield ModeBar("model")
        with Horizontal(id="model-body"):
            with VerticalScroll(id="journey-box"):
                yield Static("loading…", id="journey")
            with VerticalScroll(id="attention-box"):
                yield Static("", id="attention")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#journey-box").border_title = "shape journey of one forward pass"
        self.query_one("#attention-box").border_title = "attention weights"
        self.runner.start()
        self.load_source(self.app.weights_source)

    def load_source(self, source: WeightSource | None) -> None:
        if source is None:
            self.query_one("#journey", Static).update(Text(NO_WEIGHTS, style="bold yellow"))
            return

        def describe() -> None:
            self.post_message(ModelLoaded(self.runner.load(source, None)))
            model = self.runner.session.model
            self.post_message(self.Described(shape_journey(model), parameter_counts(model)))
            self._attention(0)

        self.runner.submit(describe)

    def _attention(self, layer: int) -> None:
        session = self.runner.session
        text = "".join(ch for ch in ATTENTION_TEXT if _spells(session.tokenizer, ch))
        ids = session.tokenizer.encode(text)[-session.model.config.block_size :]
        tokens = tuple(session.token_text(i) for i in ids)
        maps = attention_maps(session.model, ids, layer)
        self.post_message(self.Attention(layer, tokens, maps))

    def action_layer(self, delta: int) -> None:
        if self.info is None:
            return
        layer = (self.attention_layer + delta) % self.info.num_layers
        self.runner.submit(lambda: self._attention(layer))

    def action_head(self, delta: int) -> None:
        if self.info is None:
            return
        self.attention_head = (self.attention_head + delta) % self.info.num_heads
        self.show_attention()

    @on(ModelLoaded)
    def loaded(self, message: ModelLoaded) -> None:
        self.info = message.info

    @on(Described)
    def described(self, message: Described) -> None:
        self.stages = message.stages
        self.parameters = message.parameters
        self.query_one("#journey", Static).update(self.journey())

    @on(Attention)
    def attention_ready(self, message: Attention) -> None:
        self.attention = message
        self.attention_layer = message.layer
        self.show_attention()

    @on(GenerationRunner.Failed)
    def failed(self, message: GenerationRunner.Failed) -> None:
        self.query_one("#journey", Static).update(Text(message.message, style="bold red"))

    def journey(self) -> Table:
        info = self.info
        table = Table(
            title=(
                f"{info.label}: {format_count(info.num_parameters)} parameters, "
                f"V={info.vocab_size} {token_kind(info.tokenizer)}s C={info.embedding_dim} "
                f"H={info.num_heads} D={info.head_dim} FFN={info.hidden_dim} "
                f"L={info.num_layers} block={info.block_size}"
            ),
            title_justify="left",
            expand=True,
            box=None,
            padding=(0, 1),
        )
        table.add_column("stage", style="bold", no_wrap=True)
        table.add_column("shape", style="cyan", no_wrap=True)
        table.add_column("what happens", style="dim", ratio=1)
        for stage in self.stages:
            shape = "[" + ", ".join(str(n) for n in stage.shape) + "]"
            table.add_row(stage.stage, f"{shape} ({stage.letters})", stage.note)
        table.add_row("", "", "")
        table.add_row(
            "KV cache",
            f"[{info.num_layers}, 1, {info.num_heads}, S, {info.head_dim}] x 2",
            "keys and values of every layer for S ≤ block_size positions; decoding feeds one "
            f"token: Q [1, {info.num_heads}, 1, {info.head_dim}]",
        )
        table.add_row("", "", "")
        total = self.parameters[-1][1]
        for name, count in self.parameters:
            share = f"{100 * count / total:4.1f}%" if name != "total" else ""
            table.add_row(name, f"{count:,}", share)
        return table

    def show_attention(self) -> None:
        attention = self.attention
        if attention is None or self.info is None:
            return
        tokens = attention.tokens[-MAX_ATTENTION_TOKENS:]
        offset = len(attention.tokens) - len(tokens)
        weights = attention.maps[self.attention_head]
        text = Text()
        layer, head = self.attention_layer + 1, self.attention_head + 1
        text.append(
            f"layer {layer}/{self.info.num_layers} (l) · head {head}/{self.info.num_heads} (h)\n",
            style="bold",
        )
        text.append(
            "row: a position (query); columns: the positions it reads (keys). Causal: nothing "
            "right of the diagonal. Each row sums to 1.\n\n",
            style="dim",
        )
        for row, token in enumerate(tokens):
            text.append(visible_token(token)[:1].rjust(2) + " ")
            for column in range(len(tokens)):
                weight = weights[offset + row][offset + column]
                if column > row:
                    text.append("  ", style="dim")
                    continue
                level = min(1.0, max(0.0, weight)) ** 0.5
                shade = SHADES[min(len(SHADES) - 1, int(level * len(SHADES)))]
                text.append(shade * 2, style=heat_color(weight))
            text.append("\n")
        text.append("   " + "".join(visible_token(t)[:1].ljust(2) for t in tokens), style="dim")
        self.query_one("#attention", Static).update(text)
