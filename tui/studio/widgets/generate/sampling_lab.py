"""The sampling lab: the pending step's whole vocabulary through each stage of the sampler (raw
logits, temperature, the top-k cut, the top-p cut, renormalised), with the mass each cut took."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import (
    GenerationSession,
    SamplingConfig,
    apply_min_p,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    sampling_distribution,
)
from tui.studio.widgets.common.cells import score, token_label, weight
from tui.studio.widgets.common.probability import bar, probability_color
from tui.studio.widgets.common.runner_view import RunnerView

COLUMNS = ("logit", "p(T=1)", "logit/T", "p(T)", "top-k", "top-p", "final p")
CELL = 8


@dataclass(frozen=True)
class Stages:
    """One vocabulary's logits through the sampler, as plain values (-inf where cut)."""

    sampling: SamplingConfig
    tokens: tuple[str, ...]
    logits: tuple[float, ...]
    tempered: tuple[float, ...]  # logits / temperature (the logits themselves when greedy)
    after_top_k: tuple[float, ...]
    after_top_p: tuple[float, ...]  # then min-p, if it is on
    final: tuple[float, ...]  # the probabilities the token is drawn from

    @property
    def greedy(self) -> bool:
        return self.sampling.temperature == 0


def pending_logits(session: GenerationSession):
    """The logits (V,) the pending step samples from, as the session keeps them to re-score."""
    return session.pending_logits()


def sampler_stages(session: GenerationSession) -> Stages:
    """On the runner's thread: the pending logits through core's own sampling functions."""
    logits = pending_logits(session)  # (V,)
    sampling = session.sampling
    stages = [logits]
    if sampling.temperature > 0:
        tempered = apply_temperature(logits, sampling.temperature)  # (V,)
        top_k = apply_top_k(tempered, sampling.top_k)  # (V,)
        top_p = apply_min_p(apply_top_p(top_k, sampling.top_p), sampling.min_p)  # (V,)
        stages += [tempered, top_k, top_p]
    else:
        stages += [logits, logits, logits]
    final = sampling_distribution(logits, sampling)  # (V,): the readable twin of the sampler
    tokens = tuple(session.token_text(i) for i in range(len(stages[0])))
    return Stages(sampling, tokens, *(tuple(s.tolist()) for s in (*stages, final)))


def softmax(values: tuple[float, ...]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) if v != -math.inf else 0.0 for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def mass(value: float) -> str:
    """A share of the probability mass; a sliver above 0 never reads as 0."""
    return "<0.1%" if 0 < value < 0.001 else f"{value:.1%}"


class SamplingLab(RunnerView):
    """Every token's logit beside its probability at each stage; cut tokens marked."""

    @dataclass
    class Computed(Message):
        request: int
        stages: Stages

    def __init__(self, runner) -> None:
        super().__init__(runner, id="gen-lab", classes="lab-view")
        self.stages: Stages | None = None
        self.requests = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="lab-header")
        yield Static("", id="lab-columns")
        with VerticalScroll(id="lab-body", can_focus=False):
            yield Static("", id="lab-rows")

    def compute(self) -> None:
        self.requests += 1
        request = self.requests
        self.submit(request, lambda session: self.Computed(request, sampler_stages(session)), True)

    @on(Computed)
    def computed(self, message: Computed) -> None:
        self.stages, self.error = message.stages, ""
        self.result_arrived()
        self.show()

    def on_resize(self) -> None:
        self.show()

    def summary(self, stages: Stages) -> Text:
        sampling, vocab = stages.sampling, len(stages.logits)
        kept = sum(p > 0 for p in stages.final)
        text = Text()
        if stages.greedy:
            text.append("temperature 0: greedy, the argmax takes all the mass", style="bold")
            text.append(f" · kept 1 of {vocab}")
            return text
        tempered = softmax(stages.tempered)
        cut_k = [i for i, v in enumerate(stages.after_top_k) if v == -math.inf]
        cut_p = [
            i
            for i, v in enumerate(stages.after_top_p)
            if v == -math.inf and stages.after_top_k[i] != -math.inf
        ]
        removed_k = sum(tempered[i] for i in cut_k)
        removed_p = sum(tempered[i] for i in cut_p)
        text.append(f"raw logits (V={vocab}) → ÷ temperature {sampling.temperature:.2f} → ")
        text.append(f"top-k {sampling.top_k or 'off'}: cut {len(cut_k)}, ")
        text.append(f"{mass(removed_k)} of the mass", style="bold yellow")
        text.append(f" → top-p {sampling.top_p:.2f}: cut {len(cut_p)} more, ")
        text.append(mass(removed_p), style="bold yellow")
        text.append(" → renormalised: ")
        text.append(f"kept {kept} of {vocab}", style="bold")
        left = 1 - removed_k - removed_p
        text.append(f", each kept p(T) ÷ {left:.3f}" if left > 0 else "")
        return text

    def show(self) -> None:
        if not self.is_mounted:
            return
        stages = self.stages
        if self.error or stages is None:
            message = Text(self.error or "computing…", style="bold yellow")
            self.query_one("#lab-header", Static).update(message)
            return
        header = self.summary(stages)
        header.append(
            "\nrows: the whole vocabulary by raw logit; 'cut' = -inf after that stage (t/T "
            "temperature up to 10, k/K top-k, p/P top-p)",
            style="dim",
        )
        self.query_one("#lab-header", Static).update(header)
        bar_width = max(4, self.content_width() - 14 - CELL * len(COLUMNS))  # and the scrollbar
        columns = " rank token " + "".join(f"{c:>{CELL}}" for c in COLUMNS)
        self.query_one("#lab-columns", Static).update(Text(columns, style="bold"))
        self.query_one("#lab-rows", Static).update(self.rows(stages, bar_width))

    def rows(self, stages: Stages, bar_width: int) -> Text:
        raw, tempered = softmax(stages.logits), softmax(stages.tempered)
        order = sorted(range(len(stages.logits)), key=lambda i: -stages.logits[i])
        text = Text()
        for rank, i in enumerate(order, start=1):
            final = stages.final[i]
            style = "" if final > 0 else "dim"
            text.append(f"{rank:>5} {token_label(stages.tokens[i], 5)} ", style=style)
            text.append(score(stages.logits[i]).rjust(CELL), style=style)
            text.append(weight(raw[i]).rjust(CELL), style=style)
            text.append(score(stages.tempered[i]).rjust(CELL), style=style)
            text.append(weight(tempered[i]).rjust(CELL), style=style)
            for value in (stages.after_top_k[i], stages.after_top_p[i]):
                cut = value == -math.inf
                text.append(("cut" if cut else "kept").rjust(CELL), "red" if cut else "green")
            text.append(weight(final).rjust(CELL), style="bold" if final > 0 else "dim")
            text.append(" " + bar(final, bar_width) + "\n", style=probability_color(final))
        return text
