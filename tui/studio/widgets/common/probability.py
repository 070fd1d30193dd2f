"""The Generate screen's panels: the next token's whole ranking as bars with the logits and the
cut line, and the text coloured by the probability each token had."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from core import Candidate, Distribution, GenerationStep, Ranking, SamplingConfig
from tui.studio.formatting import compact_label, format_count, sampling_settings, visible_token
from tui.studio.messages import ModelInfo
from tui.studio.widgets.common.bars import fitting


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


def probability_legend() -> tuple[Text, Text]:
    """What the colours of the text mean, long and short."""
    versions = []
    for words, picked in (
        ("colour = p the model gave each token: ", "underlined = picked by you"),
        ("p: ", "underlined: yours"),
    ):
        legend = Text(words, style="dim")
        for label, prob in (("1%", 0.01), ("10%", 0.1), ("30%", 0.3), ("90%", 0.9)):
            legend.append("■", style=probability_color(prob))
            legend.append(f" {label} ", style="dim")
        legend.append(f"· {picked}", style="dim")
        versions.append(legend)
    return versions[0], versions[1]


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of eighth-blocks, `fraction` of `width` cells long."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])


def cut_label(cut: str, sampling: SamplingConfig) -> str:
    """The words on the cut line: which stage ends the kept tokens."""
    return {
        "greedy": "greedy (T = 0) cut",
        "repetition penalty": f"repetition penalty {sampling.repetition_penalty:g} cut",
        "temperature": f"temperature {sampling.temperature:g} cut",
        "top-k": f"top-k {sampling.top_k} cut",
        "top-p": f"top-p {sampling.top_p:.2f} cut",
        "min-p": f"min-p {sampling.min_p:.2f} cut",
    }.get(cut, "p rounds to 0 below")


WAIT_TICK = 0.5  # seconds between two redraws of a load's elapsed time


class ProbabilityPanel(Widget, can_focus=True):
    """The pending step's whole vocabulary, ranked: the kept tokens with the probability the
    draw gives them, a line where a cut ends them, then the rest; every row with its logit.
    The cursor moves through all of it, and enter forces the token under it."""

    cursor = reactive(0)

    LABEL_WIDTH = 6
    TALL = 30  # rows from which the last step's candidates are shown under the ranking

    def __init__(self) -> None:
        super().__init__(id="probs")
        self.distribution: Distribution | None = None
        self.last: GenerationStep | None = None
        self.sampling = SamplingConfig()
        self.message = "loading…"
        self._waiting_since: float | None = None  # monotonic time a load was asked for
        self._ticker = None
        self.top = 0  # the first line of the ranking shown (the cut line counts as one)
        self.page_rows = 10

    def show(
        self, distribution: Distribution | None, last: GenerationStep | None, sampling
    ) -> None:
        self.distribution = distribution
        self.last = last
        self.sampling = sampling
        if self.ranking is not None:
            self.cursor = min(self.cursor, len(self.ranking) - 1)
        self.refresh()

    def waiting(self, message: str, again: bool = True) -> None:
        """Say `message` until a distribution arrives, with the seconds it has taken so far:
        a load never looks stuck, and a redraw lost on the way is made at the next tick.
        `again` False keeps counting from the first message (a later stage of one load)."""
        self.message = message
        if again or self._waiting_since is None:
            self._waiting_since = time.monotonic()
        if self._ticker is None:
            self._ticker = self.set_interval(WAIT_TICK, self._tick)
        self.refresh()

    def stop_waiting(self, message: str | None = None) -> None:
        """The load ended without a distribution (an error): say so, and stop counting."""
        if message is not None:
            self.message = message
        self._waiting_since = None
        self.refresh()

    def _tick(self) -> None:
        if self._waiting_since is None or self.distribution is not None:
            self._waiting_since = None
            if self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
        self.refresh()

    @property
    def ranking(self) -> Ranking | None:
        return self.distribution.ranking if self.distribution is not None else None

    def validate_cursor(self, value: int) -> int:
        count = len(self.ranking) if self.ranking is not None else 1
        return max(0, min(value, count - 1))

    def watch_cursor(self) -> None:
        self.refresh()

    def page(self, pages: int) -> None:
        """Move the cursor a page of rows down (or up)."""
        self.cursor += pages * max(1, self.page_rows - 1)

    def on_mouse_scroll_down(self) -> None:
        self.cursor += 1

    def on_mouse_scroll_up(self) -> None:
        self.cursor -= 1

    @property
    def selected(self) -> Candidate | None:
        """The candidate under the cursor, any rank, with the probability the draw gives it."""
        ranking = self.ranking
        if ranking is None:
            return None
        index = self.cursor
        return Candidate(ranking.token_ids[index], ranking.tokens[index], ranking.probs[index])

    # --- drawing ----------------------------------------------------------------------------
    def render(self) -> Text:
        ranking = self.ranking
        if ranking is None:
            since = self._waiting_since
            waited = time.monotonic() - since if since is not None else 0.0
            return Text(self.message + (f" {waited:.0f} s" if waited >= 1 else ""), style="dim")
        width, height = max(24, self.size.width), max(6, self.size.height)
        text = fitting(self.headers(ranking), width).copy()
        text.append("\n")
        below = self.below(ranking, width, height)
        rows = max(1, height - 2 - len(below.plain.splitlines()))
        self.page_rows = rows
        text.append_text(self.column_line(ranking, width))
        text.append_text(self.window(ranking, width, rows))
        text.append_text(below)
        return text

    def headers(self, ranking: Ranking) -> tuple[Text, ...]:
        sampling, vocab = self.sampling, len(ranking)
        kept = Text(f"kept {ranking.kept} of {vocab}", style="bold")
        if self.distribution.greedy:
            versions = (
                " · T = 0: greedy, the argmax is drawn; p = softmax(logits)",
                " · T = 0: greedy, draws the argmax",
                " · greedy (T 0)",
            )
        else:
            k, t, p = sampling.top_k or "off", sampling.temperature, sampling.top_p
            versions = (
                f" · softmax(logits / {t:.2f}) · top-k {k} · top-p {p:.2f}",
                f" · T {t:.2f} · top-k {k} · top-p {p:.2f}",
                f" · T {t:.2f} · k {k} · p {p:.2f}",
                "",
            )
        return tuple(kept.copy().append(words, style="dim") for words in versions)

    def bar_width(self, ranking: Ranking, width: int) -> int:
        return max(3, width - len(str(len(ranking))) - self.LABEL_WIDTH - 18)

    def column_line(self, ranking: Ranking, width: int) -> Text:
        rank_width, bar_width = len(str(len(ranking))), self.bar_width(ranking, width)
        line = f"{'#':>{rank_width}}   {'token':<{self.LABEL_WIDTH}} {'':<{bar_width}}"
        return Text(f"{line}{'p':>7}{'logit':>7}\n", style="dim")

    def window(self, ranking: Ranking, width: int, rows: int) -> Text:
        """The lines around the cursor that fit in `rows`, the cut line after the kept tokens
        counting as one; the border says which ranks they show."""
        kept, vocab = ranking.kept, len(ranking)
        cut = kept < vocab
        total = vocab + cut
        at = self.cursor + (cut and self.cursor >= kept)  # the cursor's line
        top = 0 if self.cursor == 0 else min(self.top, at)
        self.top = top = max(0, min(max(top, at - rows + 1), total - rows))
        text, ranks = Text(), []
        for line in range(top, min(total, top + rows)):
            if cut and line == kept:
                text.append_text(self.cut_line(ranking, width))
                continue
            index = line - (cut and line > kept)
            ranks.append(index)
            text.append_text(self.row(ranking, index, width))
        subtitle = f"ranks {ranks[0] + 1}–{ranks[-1] + 1} of {vocab}" if ranks else ""
        if len(ranks) < vocab:
            subtitle += " · ↑↓ PgUp PgDn"
        if self.border_subtitle != subtitle:  # set after this frame: the border is drawn
            self.call_later(setattr, self, "border_subtitle", subtitle)
        return text

    def row(self, ranking: Ranking, index: int, width: int) -> Text:
        """One rank: the token, a bar and the probability, the logit. Kept tokens show what the
        draw gives them; greedy and cut ones, their softmax before any cut (dim)."""
        kept = index < ranking.kept
        greedy = self.distribution.greedy
        prob = ranking.probs[index] if kept and not greedy else ranking.uncut[index]
        selected = index == self.cursor
        style = "reverse" if selected and self.has_focus else ("bold" if selected else "")
        faint = "" if kept else "dim"
        bar_width = self.bar_width(ranking, width)
        text = Text(f"{index + 1:>{len(str(len(ranking)))}} ", style="dim")
        marker = "▸ " if selected else ("✓ " if kept and greedy else "  ")
        text.append(marker + self.label(ranking.tokens[index]), style=style or faint)
        colour = probability_color(prob) if kept else "dim"
        text.append(" " + bar(prob, bar_width).ljust(bar_width), style=colour)
        text.append(f" {100 * prob:5.1f}%", style=faint)
        text.append(f" {ranking.logits[index]:+6.2f}\n", style="cyan" if kept else "dim")
        return text

    def cut_line(self, ranking: Ranking, width: int) -> Text:
        label = cut_label(ranking.cut, self.sampling)
        if len(label) + 30 <= width and not self.distribution.greedy:
            label += " · below: p before it"
        label = f" {label} "
        side = max(2, (width - len(label)) // 2)
        rest = max(2, width - side - len(label))
        return Text("─" * side + label + "─" * rest + "\n", style="yellow")

    def below(self, ranking: Ranking, width: int, height: int) -> Text:
        """Under the ranking: the entropy, and the last step (its candidates when tall)."""
        distribution, last = self.distribution, self.last
        bits = distribution.entropy
        line = f"entropy {bits:.2f} bits ≈ {2**bits:.1f} choices"
        uniform = f" (uniform: {math.log2(len(ranking)):.2f})"
        text = Text(fitting((line + uniform, line), width) + "\n", style="dim")
        if last is None:
            hint = (
                "↑↓ choose · enter: pick it · space: sample",
                "↑↓ choose · ⏎ pick · space: sample",
            )
            text.append(fitting(hint, width), style="dim")
            return text
        text.append_text(fitting(self.last_lines(last), width))
        if height >= self.TALL:
            text.append_text(self.last_candidates(last, width))
        return text

    def last_lines(self, last: GenerationStep) -> tuple[Text, ...]:
        how = "picked by you" if last.forced else "sampled"
        versions = []
        for words, detail in (
            ("last step: ✓ ", f" at {100 * last.prob:.1f}% (rank {last.rank}, {how})"),
            ("last: ✓ ", f" {100 * last.prob:.1f}% (rank {last.rank}, {how})"),
            ("last: ✓ ", f" {100 * last.prob:.1f}%, rank {last.rank}"),
        ):
            text = Text(words, style="bold")
            text.append(visible_token(last.token), style=f"bold {probability_color(last.prob)}")
            text.append(detail, style="dim")
            versions.append(text)
        return tuple(versions)

    def last_candidates(self, last: GenerationStep, width: int) -> Text:
        shown = list(last.candidates[:5])
        if shown and all(c.token_id != last.token_id for c in shown):
            chosen = [c for c in last.candidates if c.token_id == last.token_id]
            shown[-1] = chosen[0] if chosen else shown[-1]
        text = Text("\n")
        bar_width = max(4, width - self.LABEL_WIDTH - 12)
        for candidate in shown:
            chosen = candidate.token_id == last.token_id
            style = "bold" if chosen else "dim"
            text.append("\n✓ " if chosen else "\n  ", style=style)
            text.append(self.label(candidate.text), style=style)
            colour = probability_color(candidate.prob) if chosen else "dim"
            text.append(bar(candidate.prob, bar_width).ljust(bar_width), style=colour)
            text.append(f" {100 * candidate.prob:5.1f}%", style=style)
        return text

    def label(self, token: str) -> str:
        return visible_token(token)[: self.LABEL_WIDTH].ljust(self.LABEL_WIDTH)


def source_lines(
    label: str, info: ModelInfo | None, sampling: SamplingConfig, seed: int, running: bool
) -> tuple[Text, ...]:
    """The Generate screen's top line, long to short: the weights and every sampling setting."""
    keys = {"temperature": "t/T", "top_k": "k/K", "top_p": "p/P", "form": "^o"}
    with_keys, _ = sampling_settings(sampling, seed, keys)
    long, short = sampling_settings(sampling, seed)
    sizes = ""
    if info is not None:
        sizes = f"  ({format_count(info.num_parameters)} params, vocab {info.vocab_size})"
    versions = []
    compact = compact_label(label)
    for shown_label, shown_sizes, shown_settings, run in (
        (label, sizes, with_keys, "   ▶ running (r or esc stops)"),
        (label, sizes, long, "  ▶ running"),
        (label, "", long, "  ▶ running"),
        (label, "", short, " ▶"),
        (compact, "", short, " ▶"),
    ):
        source = Text(shown_label, style="bold")
        source.append(shown_sizes, style="dim")
        source.append(f"   {shown_settings}")
        if running:
            source.append(run, style="bold green")
        versions.append(source)
    return tuple(versions)


def status_lines(
    info: ModelInfo | None,
    steps: list[GenerationStep],
    cache_length: int,
    prompt_tokens: int,
    prefill_ms: float,
    outside: int = 0,
) -> tuple[Text, ...]:
    """The Generate screen's bottom line, long and short: the KV cache, prefill and decode."""
    if info is None:
        return (Text(""),)
    heads, head_dim, layers = info.num_heads, info.head_dim, info.num_layers
    decode = (
        f" · prefill: {prompt_tokens} prompt tokens in one pass, {prefill_ms:.1f} ms · decode: "
        f"Q [1,{heads},1,{head_dim}] attends to cached K,V [1,{heads},{cache_length},{head_dim}]"
        f" in each of {layers} layers"
    )
    last = f"{steps[-1].forward_ms:.1f} ms" if steps else ""
    slid = sum(step.slid for step in steps)
    versions = []
    for count, prefill, step in (
        (" generated", decode, " · last step "),
        (" generated", f" · prefill {prompt_tokens} tokens {prefill_ms:.1f} ms", " · last step "),
        ("", f" · prefill {prefill_ms:.1f} ms", " · step "),
    ):
        text = Text(f"{len(steps)} tokens{count}", style="bold")
        text.append(f" · KV cache {cache_length}/{info.block_size}", style="bold")
        text.append(prefill + (step + last if steps else ""))
        if slid:
            text.append(f" · window slid {slid}×", style="yellow")
        if outside:  # the text struck through above: the model reads none of it now
            text.append(f", {outside} chars out of reach (struck through)", style="yellow")
        versions.append(text)
    return tuple(versions)
