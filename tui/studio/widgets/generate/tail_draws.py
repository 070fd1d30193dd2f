"""Tail draws: the text so far continued twice from the same seed, with the sampling cut and
without it, each token the uncut run drew from below the cut marked and the point where the
two texts part: why top-k and top-p cut the tail, shown rather than said."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import GenerationSession, SamplingConfig, TailDraws, TailRun, tail_draws
from tui.studio.formatting import visible_token
from tui.studio.widgets.common.cells import weight, wrapped
from tui.studio.widgets.common.runner_view import RunnerView

COUNT = 100  # tokens each run draws: enough for a derailment to show, a fraction of a second
PREFIX_SHOWN = 48  # characters of the text so far shown before each run
LISTED = 12  # tokens from below the cut listed with their probabilities
BELOW = "bold red underline"
PARTED = "bold white on red"  # the first draw from below the cut: where the texts part
FORK = "reverse"  # the cut run's token at that point


def sets_a_cut(sampling: SamplingConfig) -> bool:
    """Whether the settings cut the tail at all (else the view compares a default cut)."""
    return sampling.top_k is not None or sampling.top_p < 1 or sampling.min_p > 0


@dataclass(frozen=True)
class Drawn:
    """A result, with what it was asked with: the settings and seed as the screen had them."""

    source: str | None  # the weights drawn from
    sampling: SamplingConfig
    seed: int
    draws: TailDraws


class TailDrawsView(RunnerView):
    """Both runs as text, the below-cut tokens marked; d (or showing it) draws again."""

    @dataclass
    class Computed(Message):
        request: int
        drawn: Drawn

    def __init__(self, runner) -> None:
        super().__init__(runner, id="gen-tail", classes="lab-view")
        self.drawn: Drawn | None = None
        self.source: str | None = None  # the weights loaded now
        self.requests = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="tail-header")
        with VerticalScroll(id="tail-body", can_focus=False):
            yield Static("", id="tail-rows")

    @property
    def draws(self) -> TailDraws | None:
        return self.drawn.draws if self.drawn is not None else None

    def compute(self) -> None:
        """Draw both runs on the runner's thread, with the settings and seed shown now; a
        stream running there finishes first."""
        self.requests += 1
        request, source = self.requests, self.source
        sampling, seed = self.screen.sampling(), self.screen.seed

        def work(session: GenerationSession) -> Message:
            draws = tail_draws(
                session.model, session.tokenizer, session.text, sampling, COUNT, seed
            )
            return self.Computed(request, Drawn(source, sampling, seed, draws))

        self.submit(request, work)
        self.show()

    def forget(self, source: str) -> None:
        """Other weights were loaded: draws from the old ones no longer describe them."""
        self.source, self.drawn, self.error = source, None, ""
        self.show()

    @on(Computed)
    def computed(self, message: Computed) -> None:
        if message.drawn.source == self.source:  # else: weights that are gone
            self.drawn, self.error = message.drawn, ""
        self.result_arrived()
        self.show()

    def on_resize(self) -> None:
        self.show()

    # --- drawing ----------------------------------------------------------------------------
    def show(self) -> None:
        if not self.is_mounted:
            return
        width = self.content_width()
        header = Text()
        if self.error:
            header.append(self.error + "\n", style="bold red")
        drawn = self.drawn
        if drawn is None:
            header.append_text(
                Text("drawing…", style="bold yellow")
                if self.busy
                else wrapped(
                    "d: continue the text twice from the same seed, with the sampling cut and "
                    "without it, and mark every token drawn from below the cut",
                    width,
                )
            )
            self.query_one("#tail-header", Static).update(header)
            self.query_one("#tail-rows", Static).update("")
            return
        header.append_text(self.summary(drawn, width))
        self.query_one("#tail-header", Static).update(header)
        self.query_one("#tail-rows", Static).update(self.rows(drawn, width))

    def summary(self, drawn: Drawn, width: int) -> Text:
        draws, sampling = drawn.draws, drawn.sampling
        text = Text(f"{drawn.source} · " if drawn.source else "", style="dim")
        text.append(f"seed {drawn.seed} · T {draws.temperature:g} · cut: {draws.cut}", style="bold")
        if self.busy:
            text.append("  drawing…", style="yellow")
        text.append("\n")
        if not sets_a_cut(sampling):
            text.append_text(
                wrapped(
                    f"No cut is set (top-k off, top-p 1, min-p 0), so these runs compare "
                    f"{draws.cut}, the default: set top-p (p/P) or top-k (k/K) to compare "
                    "your own.",
                    width,
                    "yellow",
                )
            )
        if sampling.temperature == 0:
            text.append_text(
                wrapped(
                    "Temperature 0 is greedy: nothing is drawn from the tail, so both runs "
                    "draw at temperature 1.",
                    width,
                    "yellow",
                )
            )
        without = draws.without_cut
        count = len(without.tokens)
        if without.first_below is None:
            text.append_text(
                wrapped(
                    f"No token of {count} came from below the cut: the two texts are the same. "
                    "This cut removes only what the model almost never draws here; tighten "
                    "it (k, p) to see it matter.",
                    width,
                    "bold green",
                )
            )
            return text
        first = without.first_below
        text.append_text(
            wrapped(
                f"Without the cut, {without.below_count} of {count} tokens came from below it "
                f"(underlined). The text derailed at token {first + 1}, "
                f"{visible_token(without.tokens[first])!r} (p {weight(without.probs[first])}): "
                "the runs agree up to there.",
                width,
                "bold red",
            )
        )
        with_cut = draws.with_cut
        text.append_text(
            wrapped(
                f"Mean surprise, -log p under the model: with the cut "
                f"{with_cut.mean_surprise:.2f} nats/token, without {without.mean_surprise:.2f}.",
                width,
            )
        )
        return text

    def rows(self, drawn: Drawn, width: int) -> Text:
        draws = drawn.draws
        prefix = draws.prefix[-PREFIX_SHOWN:]
        lead = ("…" if len(draws.prefix) > PREFIX_SHOWN else "") + prefix.replace("\n", "↵\n")
        text = Text()
        for title, run in (
            (f"with the cut ({draws.cut}):", draws.with_cut),
            ("without it (the whole vocabulary):", draws.without_cut),
        ):
            text.append(title + "\n", style="bold")
            text.append(lead, style="dim")
            text.append_text(self.run_text(run, draws.without_cut.first_below))
            text.append("\n\n")
        listed = self.listed(draws.without_cut)
        if listed.plain:
            text.append_text(listed)
        text.append_text(
            wrapped(
                "The runs share their random numbers: wherever the uncut run's draw lands in "
                "the mass the cut keeps, it takes the cut run's token, so the texts part "
                "exactly where the tail was drawn. Each tail token alone is unlikely, but "
                "together they hold enough mass to be drawn every few dozen tokens, and one "
                "is enough to send the text somewhere the model itself finds unlikely.",
                width,
            )
        )
        return text

    @staticmethod
    def run_text(run: TailRun, parted: int | None) -> Text:
        """A run's tokens as text, those from below the cut marked, and where the runs part."""
        text = Text()
        for index, (token, below) in enumerate(zip(run.tokens, run.below_cut, strict=True)):
            style = BELOW if below else FORK if index == parted else ""
            if index == run.first_below:
                style = PARTED
            shown = token.replace("\n", "↵\n")
            if below and token.isspace():
                shown = visible_token(token) + ("\n" if "\n" in token else "")
            text.append(shown, style=style)
        return text

    @staticmethod
    def listed(run: TailRun) -> Text:
        """The tokens drawn from below the cut, each with its position and probability."""
        below = [i for i, is_below in enumerate(run.below_cut) if is_below]
        if not below:
            return Text()
        text = Text("from below the cut (token: p under the model): ", style="bold")
        for index in below[:LISTED]:
            text.append(f"{index + 1}:", style="dim")
            text.append(visible_token(run.tokens[index]), style=BELOW)
            text.append(f" {weight(run.probs[index])}  ")
        if len(below) > LISTED:
            text.append(f"and {len(below) - LISTED} more", style="dim")
        return text.append("\n\n")
