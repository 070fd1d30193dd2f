"""The logit lens: the residual stream after the embeddings and after each block, read by the
final LayerNorm and the head, with its top guess and p(target) at every position; and what
each block's sublayers added, against the stream they added to."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from core import GenerationSession, LogitLens, logit_lens
from tui.studio.widgets.common.cells import token_label, wrapped
from tui.studio.widgets.common.probability import bar, probability_color
from tui.studio.widgets.model.sourced import SourcedView

CELL = 9  # one depth's column: the guess and p(target)
LABEL = 15  # position, input and target


@dataclass(frozen=True)
class LensRequest:
    text: str


class LensView(SourcedView):
    """Every depth's reading of the stream, position by position."""

    PREFIX = "xl"

    def __init__(self, runner, id: str = "xray-lens") -> None:
        super().__init__(runner, id=id)

    def compose(self) -> ComposeResult:
        yield Static("", id="xl-header", classes="xray-header")
        yield from self.text_row("text (i)")
        yield from self.compose_body()

    def make_request(self) -> LensRequest:
        return LensRequest(self.text)

    def work(self, session: GenerationSession, request: LensRequest) -> LogitLens:
        return logit_lens(session.model, session.tokenizer, request.text)

    def settings_line(self) -> Text:
        text = Text("logit lens: ", style="bold")
        text.append(
            "the stream at each depth decoded as if it were the last (final LayerNorm, then "
            "the head)"
        )
        return text

    def draw(self, lens: LogitLens, width: int) -> Text:
        text = self.added(lens, width)
        text.append("\n")
        text.append_text(
            wrapped(
                "each cell: the top guess there and p(target), green where the guess is the "
                "target; the last column is the model's own output",
                width,
            )
        )
        text.append(f"{'pos in→target':<{LABEL}}", style="bold")
        for layer in lens.layers:
            text.append(layer.name.replace("embeddings", "embed").rjust(CELL), style="bold")
        text.append(f"\n{'mean -log p':<{LABEL}}", style="dim")
        for layer in lens.layers:
            text.append(f"{layer.mean_loss:>{CELL}.2f}", style="cyan")
        text.append("\n")
        for position, (given, target) in enumerate(zip(lens.inputs, lens.targets, strict=True)):
            text.append(f"{position:>3} {token_label(given, 4)}→{token_label(target, 5):<5} ")
            for layer in lens.layers:
                guess, prob = layer.guesses[position], layer.target_probs[position]
                style = "bold green" if guess == target else "dim"
                text.append(f"{token_label(guess, 3):>4}", style=style)
                text.append(f"{prob:>5.2f}".replace("0.", " ."), style=probability_color(prob))
            text.append("\n")
        return text

    def added(self, lens: LogitLens, width: int) -> Text:
        """Per block: the stream's size, and each sublayer's addition against it."""
        bar_width = max(2, (width - 75) // 2)
        joins = "added to" if lens.residual else "put in place of (no residual path)"
        text = wrapped(
            f"what each block's sublayers {joins} the stream, against the stream it was given "
            "(mean length of the vectors; a fresh model adds little: a near-identity)",
            width,
        )
        for added in lens.added:
            text.append(f"block {added.block}: ", style="bold")
            text.append(f"stream {added.stream:5.2f} · ")
            for name, value in (("attention", added.attention), ("FFN", added.ffn)):
                if value is None:
                    continue
                ratio = value / added.stream if added.stream else 0.0
                text.append(f"{name} +{value:.2f} ({ratio:.2f}×) ")
                text.append(bar(min(1.0, ratio), bar_width).ljust(bar_width + 1), style="cyan")
            text.append("\n")
        return text
