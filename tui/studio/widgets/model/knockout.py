"""Head knockout: silence one head (or several) and see, on the prediction tape, how much more
surprised the model is at every position and in total; every head ranked by that rise."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from core import GenerationSession, Knockout, head_ranking, knockout
from tui.studio.widgets.common.cells import token_label, wrapped
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.model.sourced import SourcedView

ENTRY = 21  # characters of one head in the ranking's lines


@dataclass(frozen=True)
class KnockoutRequest:
    text: str
    heads: tuple[tuple[int, int], ...]  # (layer, head), from 0; () asks for the ranking alone


@dataclass(frozen=True)
class KnockoutResult:
    ranking: tuple[tuple[int, int, float], ...]  # (layer, head, rise alone), largest first
    knocked: Knockout | None


def head_name(layer: int, head: int) -> str:
    """A head as the other views count it, from 1: L2·H3."""
    return f"L{layer + 1}·H{head + 1}"


class KnockoutView(SourcedView):
    """The heads ranked by what losing each costs; ↑↓ picks one, space knocks out several."""

    BINDINGS = [
        *SourcedView.BINDINGS,
        Binding("up", "cursor(-1)", "Head", show=False),
        Binding("down", "cursor(1)", "Head", key_display="↑↓"),
        Binding("space", "toggle", "Add head"),
        Binding("c", "clear", "Clear"),
    ]
    PREFIX = "xk"

    def __init__(self, runner, id: str = "xray-knockout") -> None:
        super().__init__(runner, id=id)
        self.cursor = 0  # an index into the ranking
        self.chosen: tuple[tuple[int, int], ...] = ()  # heads added with space

    def compose(self) -> ComposeResult:
        yield Static("", id="xk-header", classes="xray-header")
        yield from self.text_row("text (i)")
        yield from self.compose_body()

    @property
    def ranking(self) -> tuple[tuple[int, int, float], ...]:
        return self.result.ranking if self.result is not None else ()

    @property
    def knocked_heads(self) -> tuple[tuple[int, int], ...]:
        """The heads silenced: those added with space, else the one under the cursor."""
        if self.chosen:
            return self.chosen
        if self.ranking:
            layer, head, _ = self.ranking[self.cursor]
            return ((layer, head),)
        return ()

    def make_request(self) -> KnockoutRequest:
        return KnockoutRequest(self.text, self.knocked_heads)

    def work(self, session: GenerationSession, request: KnockoutRequest) -> KnockoutResult:
        model, tokenizer = session.model, session.tokenizer
        ranking = tuple(head_ranking(model, tokenizer, request.text))
        heads = request.heads or ((ranking[0][0], ranking[0][1]),)  # the costliest first
        return KnockoutResult(ranking, knockout(model, tokenizer, request.text, list(heads)))

    def set_text(self, text: str) -> None:
        super().set_text(text)
        self.cursor, self.chosen = 0, ()

    def set_model(self, info) -> None:
        if self.info is None or info.source != self.source:
            self.cursor, self.chosen = 0, ()  # another model may have other heads
        super().set_model(info)

    def action_cursor(self, delta: int) -> None:
        if self.ranking:
            self.cursor = (self.cursor + delta) % len(self.ranking)
            if not self.chosen:
                self.recompute()
            self.show()

    def action_toggle(self) -> None:
        if not self.ranking:
            return
        layer, head, _ = self.ranking[self.cursor]
        chosen = list(self.chosen)
        if (layer, head) in chosen:
            chosen.remove((layer, head))
        else:
            chosen.append((layer, head))
        self.chosen = tuple(chosen)
        self.recompute()

    def action_clear(self) -> None:
        self.chosen = ()
        self.recompute()

    def settings_line(self) -> Text:
        text = Text("knocked out: ")
        heads = self.knocked_heads
        text.append(", ".join(head_name(*h) for h in heads) or "-", style="bold red")
        text.append(" (↑↓ picks; space adds more, c clears)" if not self.chosen else " (c clears)")
        result = self.result
        if result is not None and result.knocked is not None:
            knocked = result.knocked
            text.append(
                f" · mean -log p {knocked.mean_loss:.3f} → {knocked.knocked_mean:.3f} "
                f"({knocked.mean_change:+.3f})",
                style="bold",
            )
        return text

    def draw(self, result: KnockoutResult, width: int) -> Text:
        text = wrapped(
            "each head silenced alone (its slice of the concatenation zeroed before the output "
            "projection): the rise of the mean -log p on this text, costliest first",
            width,
        )
        per_line = max(1, width // ENTRY)
        top = max((rise for *_, rise in result.ranking), default=0.0) or 1.0
        knocked = set(self.knocked_heads)
        for index, (layer, head, rise) in enumerate(result.ranking):
            style = "reverse bold" if index == self.cursor else ""
            mark = "✗" if (layer, head) in knocked else " "
            text.append(f"{mark}{head_name(layer, head):<6}{rise:+7.3f} ", style=style)
            text.append(bar(rise / top, 4).ljust(4), style="red" if rise > 0 else "green")
            text.append("\n" if (index + 1) % per_line == 0 else " ")
        if len(result.ranking) % per_line:
            text.append("\n")
        if result.knocked is not None:
            text.append_text(self.tape(result.knocked, width))
        return text

    def tape(self, knocked: Knockout, width: int) -> Text:
        """The prediction tape both ways, position by position."""
        bar_width = max(4, (width - 42) // 2)
        top = max((abs(c) for c in knocked.changes), default=0.0) or 1.0
        heads = ", ".join(head_name(*h) for h in knocked.heads)
        text = Text(
            f"\n{'pos':>4} {'input':>5}→{'target':<6} {'-log p':>7} {'without':>8} "
            f"{'change':>7}  more surprised without {heads} →\n",
            style="bold",
        )
        rows = zip(knocked.inputs, knocked.targets, knocked.losses, knocked.knocked, strict=True)
        for position, (given, target, loss, without) in enumerate(rows):
            change = without - loss
            text.append(f"{position:>4} {token_label(given, 5)}→{token_label(target, 5):<6} ")
            text.append(f"{loss:7.3f} {without:8.3f} ")
            text.append(f"{change:+7.3f}  ", style="bold red" if change > 0 else "green")
            cells = bar(abs(change) / top, bar_width)
            text.append(cells if change > 0 else "", style="red")
            text.append(f"(less: {cells})" if change < 0 and cells else "", style="green")
            text.append("\n")
        total = sum(knocked.changes)
        text.append(
            f"total: Σ change {total:+.3f} nats over {len(knocked.changes)} predictions, mean "
            f"{knocked.mean_change:+.4f}",
            style="bold",
        )
        return text
