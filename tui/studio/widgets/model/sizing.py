"""The sizing lens: edit a model's shape and see what it costs (parameters per part, memory,
KV cache, FLOPs, a measured step) before -> after, and a text's tokens under char and BPE."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from core import Config, Sizing, TokenView, build_tokenizer, load_corpus, size_model, token_lens
from tui.studio.formatting import format_count, visible_token
from tui.studio.widgets.common.cells import input_from_text, text_from_input

FIELDS = (  # Config field, label
    ("embedding_dim", "width"),
    ("num_layers", "layers"),
    ("num_heads", "heads"),
    ("block_size", "block"),
    ("ffn_dim", "ffn"),
    ("batch_size", "batch"),
    ("tokenizer", "tokenizer"),
)
LENS_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"
TOKEN_STYLES = ("on rgb(40,60,90)", "on rgb(80,50,30)")  # alternate, so boundaries show


def config_from_fields(base: Config, values: dict[str, str]) -> Config:
    """The base shape with the edited fields; ValueError says which one is wrong."""
    changes: dict[str, object] = {}
    for name, label in FIELDS:
        value = values[name].strip()
        if name == "tokenizer":
            changes[name] = value
        elif name == "ffn_dim" and value in ("", "4C", "4c"):
            changes[name] = None
        else:
            try:
                changes[name] = int(value)
            except ValueError:
                raise ValueError(f"{label} must be a whole number, got {value!r}") from None
    return replace(base, **changes)


def cost_rows(before: Sizing, after: Sizing, batch_size: int) -> list[tuple[str, str, str]]:
    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} MiB"

    def ms(value: float | None) -> str:
        return "- (too large to time)" if value is None else f"{value:.1f} ms"

    return [
        ("weights (fp32)", mib(before.weights_mb), mib(after.weights_mb)),
        ("gradients", mib(before.gradients_mb), mib(after.gradients_mb)),
        ("optimizer state", mib(before.optimizer_mb), mib(after.optimizer_mb)),
        (f"activations, batch {batch_size}", mib(before.activations_mb), mib(after.activations_mb)),
        (
            "KV cache per token",
            f"{before.kv_cache_bytes_per_token:,} B",
            f"{after.kv_cache_bytes_per_token:,} B",
        ),
        (
            "FLOPs per token (train)",
            format_count(before.flops_per_token),
            format_count(after.flops_per_token),
        ),
        ("ms per step (measured)", ms(before.ms_per_step), ms(after.ms_per_step)),
    ]


def journeys(before: Sizing, after: Sizing) -> Text:
    """The shape journey of one batch before and after, stage by stage, changes in bold."""
    text = Text(f"\n{'shape journey':<26}{'before':>20}{'after':>20}\n", style="bold")
    after_shapes = {stage.stage.split(" x ")[0]: stage for stage in after.journey}
    for stage in before.journey:
        name = stage.stage.split(" x ")[0]  # "Transformer x 4" and "x 6" are one stage
        new = after_shapes.get(name)
        old_shape = "[" + ", ".join(map(str, stage.shape)) + "]"
        new_shape = "[" + ", ".join(map(str, new.shape)) + "]" if new else "-"
        changed = new is None or new.shape != stage.shape or new.stage != stage.stage
        text.append(f"{stage.stage[:25]:<26}{old_shape:>20}")
        text.append(f"{new_shape:>20}", style="bold yellow" if changed else "")
        text.append(f"  ({stage.letters})\n", style="dim")
    return text


class SizingView(Vertical, can_focus=True):
    """Shape fields (enter sizes them), the costs before -> after, and the tokenizer lens."""

    BINDINGS = [
        Binding("i", "edit", "Edit shape"),
        Binding("t", "edit_text", "Lens text"),
    ]

    @dataclass
    class Sized(Message):
        config: Config
        before: Sizing
        after: Sizing

    @dataclass
    class Lensed(Message):
        views: tuple[TokenView, ...]

    @dataclass
    class Failed(Message):
        message: str

    def __init__(self) -> None:
        super().__init__(id="xray-sizing", classes="xray-view")
        self.base: Config | None = None
        self.vocab_size = 0
        self.kind = "char"
        self.before: Sizing | None = None
        self.sized: SizingView.Sized | None = None
        self.lens_views: tuple[TokenView, ...] = ()
        self.error = ""
        self._tokenizers: dict = {}  # bpe vocabulary size -> tokenizers (the lens worker's)

    def compose(self) -> ComposeResult:
        yield Static(
            "edit the shape and press enter: before = the loaded model, after = your shape, "
            "both built and timed for a few untrained steps on this machine",
            classes="xray-header",
        )
        with Grid(id="sz-form"):
            for name, label in FIELDS:
                yield Label(label, classes="sz-label")
                yield Input(id=f"sz-{name}", compact=True, classes="sz-input")
        with VerticalScroll(id="sz-body", classes="xray-body", can_focus=False):
            yield Static("", id="sz-costs")
            with Horizontal(classes="xray-text-row"):
                yield Label("lens (t)", classes="xray-text-label")
                yield Input(input_from_text(LENS_TEXT), id="sz-text", compact=True)
            yield Static("", id="sz-lens")

    def set_base(self, config: Config, vocab_size: int, kind: str) -> None:
        """The loaded model's shape: the fields start from it."""
        self.base, self.vocab_size, self.kind, self.before = config, vocab_size, kind, None
        for name, _ in FIELDS:
            value = getattr(config, name)
            self.query_one(f"#sz-{name}", Input).value = "4C" if value is None else str(value)

    def action_edit(self) -> None:
        self.query_one(f"#sz-{FIELDS[0][0]}", Input).focus()

    def action_edit_text(self) -> None:
        self.query_one("#sz-text", Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "sz-text":
            self.run_lens()
        else:
            self.size_shape()
        self.focus()

    def update_data(self) -> None:
        if self.sized is None and self.base is not None:
            self.size_shape()
            self.run_lens()

    # --- sizing, on a thread worker ---------------------------------------------------------
    def size_shape(self) -> None:
        if self.base is None:
            return
        values = {name: self.query_one(f"#sz-{name}", Input).value for name, _ in FIELDS}
        try:
            config = config_from_fields(self.base, values)
        except ValueError as error:
            self.error = str(error).splitlines()[0]
            self.show()
            return
        self.error = "measuring…"
        self.show()
        vocab_size = self.vocab_size if config.tokenizer == self.kind else None
        self.measure(self.base, self.vocab_size, self.before, config, vocab_size)

    @work(thread=True, exclusive=True, group="sizing")
    def measure(
        self,
        base: Config,
        base_vocab: int,
        before: Sizing | None,
        config: Config,
        vocab: int | None,
    ) -> None:
        worker = get_current_worker()
        try:
            if vocab is None:  # another tokenizer: its vocabulary is the one the lens fits
                vocab = self._fitted(config.bpe_vocab_size)[config.tokenizer].vocab_size
            before = before or size_model(base, base_vocab)
            after = before if (config, vocab) == (base, base_vocab) else size_model(config, vocab)
        except ValueError as error:
            self.post_message(self.Failed(str(error).splitlines()[0]))
            return
        if not worker.is_cancelled:
            self.post_message(self.Sized(config, before, after))

    # --- the tokenizer lens, on a thread worker ---------------------------------------------
    def run_lens(self) -> None:
        text = text_from_input(self.query_one("#sz-text", Input).value)
        config = self.sized.config if self.sized else self.base
        if config is not None and text:
            self.measure_lens(text, config.block_size, config.bpe_vocab_size)

    @work(thread=True, exclusive=True, group="lens")
    def measure_lens(self, text: str, block_size: int, bpe_vocab_size: int) -> None:
        try:
            views = token_lens(text, self._fitted(bpe_vocab_size), block_size)
        except ValueError as error:
            self.post_message(self.Failed(str(error).splitlines()[0]))
            return
        self.post_message(self.Lensed(tuple(views)))

    def _fitted(self, bpe_vocab_size: int) -> dict:
        """char and BPE fitted to the studio's corpus, once per BPE size (seconds, off the UI)."""
        if bpe_vocab_size not in self._tokenizers:
            train = self.app.train_screen
            corpus = train.corpus_text or load_corpus(train.corpus_path)
            self._tokenizers[bpe_vocab_size] = {
                "char": build_tokenizer("char", corpus),
                "bpe": build_tokenizer("bpe", corpus, bpe_vocab_size),
            }
        return self._tokenizers[bpe_vocab_size]

    @on(Sized)
    def sized_ready(self, message: Sized) -> None:
        self.sized, self.before, self.error = message, message.before, ""
        self.show()

    @on(Lensed)
    def lensed(self, message: Lensed) -> None:
        self.lens_views = message.views
        self.show()

    @on(Failed)
    def sizing_failed(self, message: Failed) -> None:
        self.error = message.message
        self.show()

    # --- drawing ----------------------------------------------------------------------------
    def show(self) -> None:
        text = Text()
        if self.error:
            text.append(self.error + "\n", style="bold yellow")
        if self.sized is not None:
            text.append_text(self.costs(self.sized))
        self.query_one("#sz-costs", Static).update(text)
        self.query_one("#sz-lens", Static).update(self.lens_text())

    def costs(self, sized: Sized) -> Text:
        before, after = sized.before, sized.after
        text = Text(f"{'parameters':<26}{'before':>14}{'after':>14}{'change':>10}\n", "bold")
        after_parts = dict(after.parts)
        for part, count in before.parts + tuple(
            p for p in after.parts if p[0] not in dict(before.parts)
        ):
            new = after_parts.get(part, 0)
            change = "" if new == count else (f"{(new - count) / count:+.0%}" if count else "new")
            style = "bold" if part == "total" else ""
            text.append(f"{part:<26}{count:>14,}{new:>14,}{change:>10}\n", style=style)
        text.append(f"\n{'costs':<26}{'before':>14}{'after':>14}\n", style="bold")
        for label, old, new in cost_rows(before, after, sized.config.batch_size):
            text.append(f"{label:<26}{old:>14}{new:>14}\n")
        text.append_text(journeys(before, after))
        return text

    def lens_text(self) -> Text:
        text = Text()
        for view in self.lens_views:
            text.append(f"{view.kind}: {len(view.tokens)} tokens", style="bold")
            text.append(
                f", {view.characters_per_token:.2f} characters per token; a block holds "
                f"{view.block_characters:.0f} characters\n",
                style="dim",
            )
            unknown = set(view.unknown)
            for index, token in enumerate(view.tokens):
                text.append("|" if index else "", style="dim")
                style = "bold white on red" if index in unknown else TOKEN_STYLES[index % 2]
                text.append(visible_token(token) + ("?" if index in unknown else ""), style=style)
            text.append("\n")
            split = [
                (token, raw)
                for index, (token, raw) in enumerate(
                    zip(view.tokens, view.token_bytes, strict=True)
                )
                if index in unknown or any(int(byte, 16) >= 0x80 for byte in raw.split())
            ]
            if split:  # characters beyond ASCII: several bytes, which BPE may cut apart
                text.append("bytes: ", style="dim")
                text.append(
                    "  ".join(f"{visible_token(token)}={raw}" for token, raw in split[:12]), "cyan"
                )
                text.append("\n")
            text.append(view.verdict + "\n", style="yellow" if view.unknown else "dim")
        return text
