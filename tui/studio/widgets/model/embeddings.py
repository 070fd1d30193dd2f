"""The embedding lens: a token's nearest and farthest tokens in the token table by cosine, and
the position table's cosine-similarity matrix, on the loaded weights."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from core import EmbeddingLens, GenerationSession, embedding_lens
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import signed_color, wrapped
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.model.sourced import SourcedView

DEFAULT_TOKEN = "e"
NEIGHBOURS = 8
POSITIONS = 48  # rows of the position table compared at most


@dataclass(frozen=True)
class EmbeddingRequest:
    token: str


class EmbeddingView(SourcedView):
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
        return EmbeddingRequest(self.text)

    def work(self, session: GenerationSession, request: EmbeddingRequest) -> EmbeddingLens:
        return embedding_lens(
            session.model, session.tokenizer, request.token, NEIGHBOURS, POSITIONS
        )

    def settings_line(self) -> Text:
        text = Text("embedding lens: ", style="bold")
        text.append("the token table's neighbours by cosine, and the position table's geometry")
        return text

    def draw(self, lens: EmbeddingLens, width: int) -> Text:
        text = Text()
        text.append(f"token {visible_token(lens.token)!r}", style="bold")
        text.append(" (i types another) · its nearest rows in the token table, by cosine:\n")
        text.append_text(self.neighbours(lens.neighbours, width))
        text.append("farthest:\n", style="dim")
        text.append_text(self.neighbours(lens.farthest, width))
        text.append_text(self.positions(lens.positions, width))
        return text

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
        text = Text("\n")
        text.append_text(
            wrapped(
                f"position embeddings: cosine of row i with row j, positions 0..{size - 1} "
                "(blue -1, dark 0, red +1). Without these rows the tokens would arrive in no "
                "order; the causal mask alone leaks a little (a position sees how many came "
                "before it).",
                width,
            )
        )
        text.append("     " + "".join(f"{j:<2}" if j % 4 == 0 else "  " for j in range(size)))
        text.append("\n")
        for i in range(size):
            text.append(f"{i:>4} ", style="dim")
            for j in range(size):
                text.append("██", style=signed_color(rows[i][j], 1.0))
            text.append("\n")
        return text
