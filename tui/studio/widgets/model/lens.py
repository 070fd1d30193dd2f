"""The logit lens: the residual stream after the embeddings and after each block, read by the
final LayerNorm and the head, with its top guess and p(target) at every position; and what
each block's sublayers added, against the stream they added to. f puts the same lens on a fresh
init beside it: the near-identity a trained model starts from."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from core import LogitLens, MiniGPT, Tokenizer, logit_lens
from tui.studio.widgets.common.cells import token_label, wrapped
from tui.studio.widgets.common.probability import bar, probability_color
from tui.studio.widgets.model.sourced import Beside, FreshBesideView

CELL = 9  # one depth's column: the guess and p(target)
LABEL = 15  # position, input and target


@dataclass(frozen=True)
class LensRequest:
    text: str
    fresh: bool  # a fresh init's lens beside the loaded weights' one


class LensView(FreshBesideView):
    """Every depth's reading of the stream, position by position."""

    PREFIX = "xl"

    def __init__(self, runner, id: str = "xray-lens") -> None:
        super().__init__(runner, id=id)

    def compose(self) -> ComposeResult:
        yield Static("", id="xl-header", classes="xray-header")
        yield from self.text_row("text (i)")
        yield from self.compose_body()

    def make_request(self) -> LensRequest:
        return LensRequest(self.text, self.beside_fresh)

    def lens(self, model: MiniGPT, tokenizer: Tokenizer, request: LensRequest) -> LogitLens:
        return logit_lens(model, tokenizer, request.text)

    def settings_line(self) -> Text:
        text = Text("logit lens: ", style="bold")
        text.append(
            "the stream at each depth decoded as if it were the last (final LayerNorm, then "
            "the head)"
        )
        return text

    def draw_one(self, lens: LogitLens, width: int) -> Text:
        text = self.added(lens, width)
        text.append("\n")
        return text.append_text(self.table(lens, width))

    def draw_beside(self, beside: Beside, width: int) -> Text:
        """Both lenses under their names: what the blocks added first, one above the other,
        then each depth-by-position table."""
        pairs = list(zip(self.names(beside), (beside.loaded, beside.fresh), strict=True))
        text = self.depth_losses(beside, width)
        for index, (name, lens) in enumerate(pairs):
            text.append(f"{name}\n", style="bold cyan" if index else "bold")
            text.append_text(self.added(lens, width, explain=index == 0))
        for index, (name, lens) in enumerate(pairs):
            text.append(f"\n{name}\n", style="bold cyan" if index else "bold")
            text.append_text(self.table(lens, width, explain=index == 0))
        return text

    def depth_losses(self, beside: Beside, width: int) -> Text:
        """The loss from the embeddings to the output, both ways, against a uniform guess."""

        def path(lens: LogitLens) -> str:
            return " → ".join(f"{layer.mean_loss:.2f}" for layer in lens.layers)

        uniform = math.log(self.info.vocab_size) if self.info is not None else float("nan")
        return wrapped(
            f"mean -log p at each depth, embeddings to output: these weights {path(beside.loaded)}"
            f"; the fresh init {path(beside.fresh)} (a uniform guess: ln V = {uniform:.2f}). "
            "How much each block changes the guess: a fresh block little, a trained one its "
            "learned correction.",
            width,
            "bold",
        )

    def table(self, lens: LogitLens, width: int, explain: bool = True) -> Text:
        """Every depth's top guess and p(target) at every position."""
        text = Text()
        if explain:
            text.append_text(
                wrapped(
                    "each cell: the top guess there and p(target), green where the guess is "
                    "the target; the last column is the model's own output",
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

    def added(self, lens: LogitLens, width: int, explain: bool = True) -> Text:
        """Per block: the stream's size, and each sublayer's addition against it."""
        bar_width = max(2, (width - 75) // 2)
        joins = "added to" if lens.residual else "put in place of (no residual path)"
        text = Text()
        if explain:
            text = wrapped(
                f"what each block's sublayers {joins} the stream, against the stream it was "
                "given (mean length of the vectors)",
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
