"""The embedding lens: a token's nearest and farthest tokens in the token table by cosine, and
the position table's cosine-similarity matrix, on the loaded weights; f puts a fresh init of
the same shape beside them, where neither table has learned anything yet."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from core import EmbeddingLens, MiniGPT, Tokenizer, embedding_lens
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import signed_color, wrapped
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.model.sourced import FRESH, Beside, FreshBesideView

DEFAULT_TOKEN = "e"
NEIGHBOURS = 8
POSITIONS = 48  # rows of the position table compared at most


@dataclass(frozen=True)
class EmbeddingRequest:
    token: str
    fresh: bool  # a fresh init's tables beside the loaded weights'


class EmbeddingView(FreshBesideView):
    """Its field holds one token, not the screen's shared text."""

    PREFIX = "xe"
    SHARES_TEXT = False

    def __init__(self, runner, id: str = "xray-embeddings") -> None:
        super().__init__(runner, id=id)

    def compose(self) -> ComposeResult:
        yield Static("", id="xe-header", classes="xray-header")
        yield from self.text_row("token(i)")
        yield from self.compose_body()

    def set_text(self, text: str) -> None:
        super().set_text(self.text or DEFAULT_TOKEN)

    def make_request(self) -> EmbeddingRequest:
        return EmbeddingRequest(self.text, self.beside_fresh)

    def lens(
        self, model: MiniGPT, tokenizer: Tokenizer, request: EmbeddingRequest
    ) -> EmbeddingLens:
        return embedding_lens(model, tokenizer, request.token, NEIGHBOURS, POSITIONS)

    def settings_line(self) -> Text:
        text = Text("embedding lens: ", style="bold")
        text.append("the token table's neighbours by cosine, and the position table's geometry")
        return text

    def draw_one(self, lens: EmbeddingLens, width: int) -> Text:
        text = self.token_line(lens)
        text.append_text(self.tokens(lens, width))
        text.append_text(self.positions(lens.positions, width))
        return text

    def draw_beside(self, beside: Beside, width: int) -> Text:
        """Each model's neighbours under its name, then the two position tables side by side."""
        names, lenses = self.names(beside), (beside.loaded, beside.fresh)
        text = self.token_line(beside.loaded)
        for index, (name, lens) in enumerate(zip(names, lenses, strict=True)):
            text.append(f"{name}\n", style="bold cyan" if index else "bold")
            text.append_text(self.tokens(lens, width))
        if not beside.loaded.positions:
            return text.append_text(self.positions([], width))
        size = min(len(beside.loaded.positions), max(4, (width - 8) // 4))
        text.append_text(self.positions_words(size, width))
        # the full names head the neighbours above; short ones fit over a matrix
        left, right = (f"{name[: 2 * size]:<{2 * size}}" for name in ("these weights", FRESH))
        text.append(f"     {left}   ", style="bold")
        text.append(f"{right}\n", style="bold cyan")
        text.append_text(self.columns(size, 2))
        for i in range(size):
            text.append(f"{i:>4} ", style="dim")
            for j, rows in enumerate((beside.loaded.positions, beside.fresh.positions)):
                text.append("   " if j else "")
                for k in range(size):
                    text.append("██", style=signed_color(rows[i][k], 1.0))
            text.append("\n")
        return text

    @staticmethod
    def token_line(lens: EmbeddingLens) -> Text:
        text = Text(f"token {visible_token(lens.token)!r}", style="bold")
        text.append(" (i types another) · its nearest rows in the token table, by cosine:\n")
        return text

    def tokens(self, lens: EmbeddingLens, width: int) -> Text:
        text = self.neighbours(lens.neighbours, width)
        text.append("farthest:\n", style="dim")
        return text.append_text(self.neighbours(lens.farthest, width))

    @staticmethod
    def neighbours(rows: list[tuple[str, float]], width: int) -> Text:
        per_line = max(1, width // 18)
        text = Text()
        for index, (token, cosine) in enumerate(rows):
            text.append(f" {visible_token(token)[:4]:>4} {cosine:+.2f} ")
            text.append(bar(abs(cosine), 5).ljust(6), style=signed_color(cosine, 1.0))
            text.append("\n" if (index + 1) % per_line == 0 else "")
        return text if text.plain.endswith("\n") else text.append("\n")

    @staticmethod
    def positions(rows: list[list[float]], width: int) -> Text:
        if not rows:
            return wrapped(
                "no position table: this model sees a bag of tokens (only the causal mask "
                "hints at order: a position can count how many came before it)",
                width,
                "bold yellow",
            )
        size = min(len(rows), max(4, (width - 5) // 2))
        text = EmbeddingView.positions_words(size, width)
        text.append_text(EmbeddingView.columns(size, 1))
        for i in range(size):
            text.append(f"{i:>4} ", style="dim")
            for j in range(size):
                text.append("██", style=signed_color(rows[i][j], 1.0))
            text.append("\n")
        return text

    @staticmethod
    def positions_words(size: int, width: int) -> Text:
        text = Text("\n")
        return text.append_text(
            wrapped(
                f"position embeddings: cosine of row i with row j, positions 0..{size - 1} "
                "(blue -1, dark 0, red +1). Without these rows the tokens would arrive in no "
                "order; the causal mask alone leaks a little (a position sees how many came "
                "before it).",
                width,
            )
        )

    @staticmethod
    def columns(size: int, count: int) -> Text:
        """The column numbers over `count` matrices side by side."""
        line = "".join(f"{j:<2}" if j % 4 == 0 else "  " for j in range(size))
        return Text("     " + "   ".join([line] * count) + "\n")
