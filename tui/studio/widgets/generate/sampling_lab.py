"""The sampling lab: the pending step's whole vocabulary through each stage of the sampler (raw
logits, temperature, the top-k cut, the top-p cut, renormalised), with the mass each cut took,
all as core's `ranked_distribution` computed it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import STAGES, GenerationSession, Ranking, SamplingConfig
from tui.studio.widgets.common.cells import score, token_label, weight
from tui.studio.widgets.common.probability import bar, probability_color
from tui.studio.widgets.common.runner_view import RunnerView

COLUMNS = ("logit", "p(T=1)", "logit/T", "p(T)", "top-k", "top-p", "final p")
CELL = 8


@dataclass(frozen=True)
class Stages:
    """The pending step as core's sampler ranks it: the settings and the whole vocabulary, with
    each token's value at every stage and the stage that removed it."""

    sampling: SamplingConfig
    ranking: Ranking

    @property
    def greedy(self) -> bool:
        return self.sampling.temperature == 0


def cut_after(removed_by: str | None, stage: str, greedy: bool) -> bool:
    """Whether a token's logit is -inf after `stage`: that stage or an earlier one removed it.
    At temperature 0 no logit is set to -inf: the argmax is taken from them as they are."""
    if removed_by is None or (greedy and removed_by == "temperature"):
        return False
    return STAGES.index(removed_by) <= STAGES.index(stage)


def sampler_stages(session: GenerationSession) -> Stages:
    """On the runner's thread: core's ranking of the pending step under the session's settings."""
    return Stages(session.sampling, session.distribution().ranking)


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
        sampling, ranking = stages.sampling, stages.ranking
        vocab = len(ranking)
        text = Text()
        if stages.greedy:
            text.append("temperature 0: greedy, the argmax takes all the mass", style="bold")
            text.append(f" · kept {ranking.kept} of {vocab}")
            return text
        cuts = {cut.stage: cut for cut in ranking.cuts}
        penalty, top_k, top_p, min_p = (cuts[s] for s in STAGES if s != "temperature")
        text.append(f"raw logits (V={vocab}) → ")
        if sampling.repetition_penalty != 1:
            text.append(f"repetition penalty {sampling.repetition_penalty:g}: ")
            text.append(f"{penalty.tokens} seen tokens lose {mass(penalty.mass)} → ")
        text.append(f"÷ temperature {sampling.temperature:.2f} → ")
        text.append(f"top-k {sampling.top_k or 'off'}: cut {top_k.tokens}, ")
        text.append(f"{mass(top_k.mass)} of the mass", style="bold yellow")
        text.append(f" → top-p {sampling.top_p:.2f}: cut {top_p.tokens + min_p.tokens} more, ")
        text.append(mass(top_p.mass + min_p.mass), style="bold yellow")
        text.append(" → renormalised: ")
        text.append(f"kept {ranking.kept} of {vocab}", style="bold")
        left = 1 - top_k.mass - top_p.mass - min_p.mass
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
        ranking, greedy = stages.ranking, stages.greedy
        text = Text()
        for rank, row in enumerate(
            zip(
                ranking.tokens,
                ranking.logits,
                ranking.model_probs,
                ranking.scaled,
                ranking.uncut,
                ranking.removed_by,
                ranking.probs,
                strict=True,
            ),
            start=1,
        ):
            token, logit, model_prob, scaled, uncut, removed_by, final = row
            style = "" if final > 0 else "dim"
            text.append(f"{rank:>5} {token_label(token, 5)} ", style=style)
            text.append(score(logit).rjust(CELL), style=style)
            text.append(weight(model_prob).rjust(CELL), style=style)
            text.append(score(scaled).rjust(CELL), style=style)
            text.append(weight(uncut).rjust(CELL), style=style)
            for stage in ("top-k", "min-p"):  # the top-p column counts min-p's cut too
                cut = cut_after(removed_by, stage, greedy)
                text.append(("cut" if cut else "kept").rjust(CELL), "red" if cut else "green")
            text.append(weight(final).rjust(CELL), style="bold" if final > 0 else "dim")
            text.append(" " + bar(final, bar_width) + "\n", style=probability_color(final))
        return text
