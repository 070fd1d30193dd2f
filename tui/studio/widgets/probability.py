"""The Generate screen's panels: the next token's candidates as bars, and the text coloured by
the probability each token had."""

from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from core import Distribution, GenerationStep, SamplingConfig
from tui.studio.formatting import format_count, visible_token
from tui.studio.messages import ModelInfo


def probability_color(prob: float) -> str:
    """Red for unlikely tokens through yellow to green for confident ones."""
    p = min(1.0, max(0.0, prob))
    # a log scale: 1% and 100% are the ends, so mid-range probabilities are told apart
    t = min(1.0, max(0.0, (math.log10(max(p, 1e-3)) + 2) / 2))
    if t < 0.5:
        red, green = 255, int(80 + 350 * t)
    else:
        red, green = int(255 - 400 * (t - 0.5)), 255
    return f"rgb({max(60, red)},{min(255, green)},90)"


def probability_legend() -> Text:
    legend = Text("colour = the probability the model gave each token: ", style="dim")
    for label, prob in (("1%", 0.01), ("10%", 0.1), ("30%", 0.3), ("90%", 0.9)):
        legend.append("■ ", style=probability_color(prob))
        legend.append(f"{label}  ", style="dim")
    legend.append("underlined = picked by you", style="dim")
    return legend


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of eighth-blocks, `fraction` of `width` cells long."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])


class ProbabilityPanel(Widget, can_focus=True):
    """The pending step's top candidates as bars, a cursor to force one, entropy and last pick."""

    cursor = reactive(0)

    def __init__(self) -> None:
        super().__init__(id="probs")
        self.distribution: Distribution | None = None
        self.last: GenerationStep | None = None
        self.sampling = SamplingConfig()
        self.vocab_size: int | None = None
        self.message = "loading…"

    def show(
        self, distribution: Distribution | None, last: GenerationStep | None, sampling
    ) -> None:
        self.distribution = distribution
        self.last = last
        self.sampling = sampling
        if distribution is not None:
            self.cursor = min(self.cursor, len(distribution.candidates) - 1)
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        count = len(self.distribution.candidates) if self.distribution else 1
        return max(0, min(value, count - 1))

    def watch_cursor(self) -> None:
        self.refresh()

    @property
    def selected(self):
        if self.distribution is None:
            return None
        return self.distribution.candidates[self.cursor]

    def render(self) -> Text:
        distribution = self.distribution
        if distribution is None:
            return Text(self.message, style="dim")
        width = max(24, self.size.width)
        height = max(6, self.size.height)
        sampling = self.sampling
        text = Text()
        if distribution.greedy:
            text.append("T = 0: greedy, all probability on the argmax\n", style="bold")
        else:
            text.append(
                f"softmax(logits / {sampling.temperature:.2f}) · top-k "
                f"{sampling.top_k or 'off'} · top-p {sampling.top_p:.2f}\n",
                style="dim",
            )
        last = self.last
        last_rows = 0
        if last is not None and height >= 20:
            last_rows = min(5, len(last.candidates), height - 15)
        rows = min(len(distribution.candidates), height - 3 - (last_rows + 2 if last_rows else 0))
        for index, candidate in enumerate(distribution.candidates[:rows]):
            selected = index == self.cursor
            marker = "▸ " if selected else "  "
            style = "reverse" if selected and self.has_focus else ("bold" if selected else "")
            text.append(marker + self.label(candidate.text), style=style)
            text.append_text(self.bar_row(candidate.prob, width))
        text.append(self.entropy_line(distribution) + "\n", style="dim")
        if last is None:
            text.append("↑↓ choose · enter: pick it · space: sample", style="dim")
            return text
        text.append_text(self.last_line(last))
        if last_rows:
            text.append("\n")
            shown = list(last.candidates[:last_rows])
            if all(c.token_id != last.token_id for c in shown):
                shown[-1] = next(
                    (c for c in last.candidates if c.token_id == last.token_id), shown[-1]
                )
            for candidate in shown:
                chosen = candidate.token_id == last.token_id
                text.append("\n✓ " if chosen else "\n  ", style="bold" if chosen else "dim")
                text.append(self.label(candidate.text), style="bold" if chosen else "dim")
                row = self.bar_row(candidate.prob, width)
                row.rstrip()
                text.append_text(row if chosen else Text(row.plain, style="dim"))
        return text

    LABEL_WIDTH = 6

    def label(self, token: str) -> str:
        return visible_token(token)[: self.LABEL_WIDTH].ljust(self.LABEL_WIDTH)

    def bar_row(self, prob: float, width: int) -> Text:
        bar_width = max(4, width - self.LABEL_WIDTH - 12)
        row = Text(bar(prob, bar_width).ljust(bar_width), style=probability_color(prob))
        row.append(f" {100 * prob:5.1f}%\n")
        return row

    def entropy_line(self, distribution: Distribution) -> str:
        line = f"entropy {distribution.entropy:.2f} bits ≈ {2**distribution.entropy:.1f} choices"
        if self.vocab_size:
            line += f" (uniform: {math.log2(self.vocab_size):.2f})"
        return line

    def last_line(self, last: GenerationStep) -> Text:
        rank = next(
            (i + 1 for i, c in enumerate(last.candidates) if c.token_id == last.token_id), None
        )
        where = f"rank {rank}" if rank else "outside the top list"
        how = "picked by you" if last.forced else "sampled"
        text = Text("last step: ✓ ", style="bold")
        text.append(visible_token(last.token), style=f"bold {probability_color(last.prob)}")
        text.append(f" at {100 * last.prob:.1f}% ({where}, {how})", style="dim")
        return text


class TokenText(Static):
    """The prompt and every generated token, coloured by the probability it was given."""

    def show(self, prompt: str, steps: list[GenerationStep], running: bool) -> None:
        text = Text(prompt, style="dim")
        for step in steps:
            style = probability_color(step.prob)
            if step.forced:
                style += " underline"
            shown = step.text
            if "\n" in shown:
                shown = shown.replace("\n", "↵\n")
            text.append(shown, style=style)
        text.append("▌" if not running else "▍", style="blink" if running else "")
        self.update(text)


def source_line(
    label: str, info: ModelInfo | None, sampling: SamplingConfig, running: bool
) -> Text:
    """The Generate screen's top line: the weights and the sampling settings."""
    source = Text()
    source.append(label, style="bold")
    if info is not None:
        source.append(
            f"  ({format_count(info.num_parameters)} params, vocab {info.vocab_size})",
            style="dim",
        )
    source.append(
        f"   temperature {sampling.temperature:.2f} (t/T) · top-k {sampling.top_k or 'off'} "
        f"(k/K) · top-p {sampling.top_p:.2f} (p/P)"
    )
    if running:
        source.append("   ▶ running (r or esc stops)", style="bold green")
    return source


def status_line(
    info: ModelInfo | None,
    steps: list[GenerationStep],
    cache_length: int,
    prompt_tokens: int,
    prefill_ms: float,
) -> Text:
    """The Generate screen's bottom line: the KV cache, prefill and decode."""
    if info is None:
        return Text("")
    heads, head_dim, layers = info.num_heads, info.head_dim, info.num_layers
    text = Text()
    text.append(f"{len(steps)} tokens generated", style="bold")
    text.append(f" · KV cache {cache_length}/{info.block_size}", style="bold")
    text.append(
        f" · prefill: {prompt_tokens} prompt tokens in one pass, "
        f"{prefill_ms:.1f} ms · decode: Q [1,{heads},1,{head_dim}] attends to cached "
        f"K,V [1,{heads},{cache_length},{head_dim}] in each of {layers} layers"
    )
    if steps:
        text.append(f" · last step {steps[-1].forward_ms:.1f} ms")
        slid = sum(step.slid for step in steps)
        if slid:
            text.append(f" · window slid {slid}×", style="yellow")
    return text
