"""The Model screen: the shape journey of a forward pass, parameter counts and attention maps,
and the X-ray views (attention stage by stage, the perturbation probe) on any text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import ContentSwitcher, Static

from core import Config, ShapeStage, attention_maps, parameter_counts, shape_journey
from tui.studio.formatting import format_count, token_kind, visible_token
from tui.studio.messages import NO_WEIGHTS, ModelInfo, ModelLoaded, WeightSource
from tui.studio.runner import GenerationRunner
from tui.studio.screens.base import StudioScreen
from tui.studio.weights_check import weights_problem
from tui.studio.widgets.common.bars import FitLine, KeyBar, ModeBar
from tui.studio.widgets.common.cells import shade_cell
from tui.studio.widgets.common.runner_view import TextView
from tui.studio.widgets.model.embeddings import EmbeddingView
from tui.studio.widgets.model.head_inside import HeadInsideView
from tui.studio.widgets.model.knockout import KnockoutView
from tui.studio.widgets.model.lens import LensView
from tui.studio.widgets.model.probe import ProbeView
from tui.studio.widgets.model.sizing import SizingView
from tui.studio.widgets.model.sourced import SourcedView
from tui.studio.widgets.model.xray import AttentionXray

ATTENTION_TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?"
XRAY_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"
MAX_ATTENTION_TOKENS = 24
# the screen's views: id, key, label
VIEWS = (
    ("overview", "o", "Overview"),
    ("attention", "x", "Attention X-ray"),
    ("head", "v", "Inside a head"),
    ("knockout", "k", "Knockout"),
    ("lens", "d", "Logit lens"),
    ("embeddings", "e", "Embeddings"),
    ("probe", "p", "Probe"),
    ("sizing", "s", "Sizing"),
)
SHORT_LABELS = {  # narrow
    "overview": "Overview",
    "attention": "X-ray",
    "head": "Head",
    "knockout": "Knock",
    "lens": "Lens",
    "embeddings": "Embed",
}


def _spells(tokenizer, text: str) -> bool:
    """Whether the vocabulary can spell `text` (a character corpus may lack some)."""
    try:
        tokenizer.encode(text)
    except ValueError:
        return False
    return True


class Overview(Horizontal):
    """The shape journey beside the attention maps; l and h page the maps."""

    BINDINGS = [
        Binding("l", "screen.layer(1)", "Next layer"),
        Binding("h", "screen.head(1)", "Next head"),
    ]


class ModelScreen(StudioScreen):
    """What the loaded weights are: real shapes at each stage, where the parameters sit."""

    MAIN_FOCUS = ("#model-switcher > *", "#journey-box")  # the view shown (its text field aside)

    BINDINGS = [
        *(Binding(key, f"view('{name}')", label, show=False) for name, key, label in VIEWS),
        Binding("pagedown", "scroll_view(1)", "Scroll", show=False),
        Binding("pageup", "scroll_view(-1)", "Scroll", show=False),
    ]

    @dataclass
    class Described(Message):
        stages: tuple[ShapeStage, ...]
        parameters: tuple[tuple[str, int], ...]
        config: Config

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
        self.sizing_base: tuple | None = None  # the loaded shape, for the sizing lens

    def compose(self) -> ComposeResult:
        yield ModeBar("model")
        yield FitLine(id="model-views")
        with ContentSwitcher(initial="model-body", id="model-switcher"):
            with Overview(id="model-body"):
                with VerticalScroll(id="journey-box"):
                    yield Static("loading…", id="journey")
                with VerticalScroll(id="attention-box"):
                    yield Static("", id="attention")
            yield AttentionXray(self.runner)
            yield HeadInsideView(self.runner)
            yield KnockoutView(self.runner)
            yield LensView(self.runner)
            yield EmbeddingView(self.runner)
            yield ProbeView(self.runner)
            # the sizing lens (a dozen fields) is built on its first showing: it was a third
            # of this screen's first visit
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#journey-box").border_title = "shape journey of one forward pass"
        self.query_one("#attention-box").border_title = "attention weights"
        self.runner.start()
        self.load_source(self.app.weights_source)
        self.show_views()

    # --- the views --------------------------------------------------------------------------
    @property
    def view(self) -> str:
        current = self.query_one(ContentSwitcher).current
        return "overview" if current == "model-body" else current.removeprefix("xray-")

    def xray_views(self) -> list[TextView]:
        return list(self.query(TextView))

    def action_scroll_view(self, pages: int) -> None:
        """Page the shown view's scrolling part: what a short terminal cannot show at once."""
        view = self.query_one(ContentSwitcher).visible_content
        for body in [view, *view.query(VerticalScroll)] if view is not None else []:
            if isinstance(body, VerticalScroll) and body.max_scroll_y:
                (body.scroll_page_down if pages > 0 else body.scroll_page_up)(animate=False)

    async def action_view(self, name: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        if name == "sizing" and not self.query(SizingView):
            sizing = SizingView()
            await switcher.mount(sizing)
            if self.sizing_base is not None:
                sizing.set_base(*self.sizing_base)
        switcher.current = "model-body" if name == "overview" else f"xray-{name}"
        self.show_views()
        if name == "overview":
            self.set_focus(self.main_widget())
            return
        view = self.query_one(f"#xray-{name}")
        if isinstance(view, TextView) and not view.text:
            for each in self.xray_views():
                each.set_text(self.default_text())
        view.focus()
        view.update_data()

    def default_text(self) -> str:
        """The Generate screen's text if it has one, else a sample sentence."""
        generate = self.app.mode_screens.get("generate")
        text = getattr(generate, "text", "") if generate is not None else ""
        return text or XRAY_TEXT

    def show_views(self) -> None:
        current = self.view
        line, short, keys = Text(), Text(), Text()
        for name, key, label in VIEWS:
            style = "reverse bold" if name == current else ""
            line.append(f" {key} {label} ", style=style)
            line.append(" ")
            short.append(f"{key} {SHORT_LABELS.get(name, label)}", style=style)
            short.append(" ")
            # narrowest: every key, the shown view's name beside its own
            keys.append(
                f"{key} {SHORT_LABELS.get(name, label)}" if name == current else key, style=style
            )
            keys.append(" ")
        line.append(" esc leaves a text field", style="dim")
        shorter = short.copy()
        short.append("· esc leaves a field", style="dim")
        self.query_one("#model-views", FitLine).show(line, short, shorter, keys)

    @on(TextView.TextChosen)
    def text_chosen(self, message: TextView.TextChosen) -> None:
        if not message.shared:
            return  # a token for the embedding lens: the other views keep their text
        for view in self.xray_views():
            if view.SHARES_TEXT and view.text != message.text:
                view.set_text(message.text)

    def load_source(self, source: WeightSource | None) -> None:
        problem = weights_problem(source, self.app)  # a missing or damaged checkpoint
        if source is None or problem:
            self.query_one("#journey", Static).update(
                Text(problem or NO_WEIGHTS, style="bold yellow")
            )
            return

        def describe() -> None:
            self.post_message(ModelLoaded(self.runner.load(source, None)))
            model = self.runner.session.model
            stages, parameters = shape_journey(model), parameter_counts(model)
            self.post_message(self.Described(stages, parameters, model.config))
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
        of = f" · {message.info.source}"  # every view here reads these weights
        self.query_one("#journey-box").border_title = f"shape journey of one forward pass{of}"
        self.query_one("#attention-box").border_title = f"attention weights{of}"
        self.query_one(AttentionXray).source = self.query_one(ProbeView).source = (
            message.info.source
        )
        xray = self.query_one(AttentionXray)
        xray.num_layers = message.info.num_layers
        xray.layer = min(xray.layer, message.info.num_layers - 1)
        head = self.query_one(HeadInsideView)
        head.layer = min(head.layer, message.info.num_layers - 1)
        head.head = min(head.head, message.info.num_heads - 1)
        for sourced in self.query(SourcedView):
            sourced.set_model(message.info)  # the old weights' results go at once
        for view in self.xray_views():
            view.stale = True  # new weights: each view computes again when next shown
            if view.id == f"xray-{self.view}":
                view.update_data()

    @on(Described)
    def described(self, message: Described) -> None:
        self.stages = message.stages
        self.parameters = message.parameters
        self.query_one("#journey", Static).update(self.journey())
        self.sizing_base = (message.config, self.info.vocab_size, self.info.tokenizer)
        for sizing in self.query(SizingView):  # none until the lens was first shown
            sizing.set_base(*self.sizing_base)
            if self.view == "sizing":
                sizing.update_data()

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
            "row: a position (query); columns: the positions it reads (keys). Each row sums to "
            "1; · is a weight of exactly 0, so the causal mask shows right of the diagonal. "
            "x: the attention X-ray on any text.\n\n",
            style="dim",
        )
        for row, token in enumerate(tokens):
            text.append(visible_token(token)[:1].rjust(2) + " ")
            for column in range(len(tokens)):
                text.append_text(shade_cell(weights[offset + row][offset + column], 2))
            text.append("\n")
        text.append("   " + "".join(visible_token(t)[:1].ljust(2) for t in tokens), style="dim")
        self.query_one("#attention", Static).update(text)
