"""The Generate screen: step through generation one token at a time, with the probabilities,
the prediction tape, the sampling lab, the cache race and the tail draws beside the text."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from core import Distribution, GenerationStep, SamplingConfig
from tui.studio.messages import NO_WEIGHTS, ModelInfo, ModelLoaded, WeightSource
from tui.studio.runner import GenerationRunner
from tui.studio.screens.sampling import SAMPLING_BINDINGS, SamplingScreen
from tui.studio.weights_check import weights_problem
from tui.studio.widgets.common.bars import FitLine, KeyBar, ModeBar
from tui.studio.widgets.common.line_input import LineInput
from tui.studio.widgets.common.probability import (
    ProbabilityPanel,
    probability_legend,
    source_lines,
    status_lines,
)
from tui.studio.widgets.common.token_text import TokenText
from tui.studio.widgets.generate.cache_race import CacheRace
from tui.studio.widgets.generate.side_panel import SidePanel

DEFAULT_PROMPT = r"JULIET.\nO Romeo, "
RUN_INTERVAL = 0.08  # seconds between tokens when running, slow enough to watch the panel


def prompt_from_input(value: str) -> str:
    r"""The Input is one line: a typed \n stands for a newline."""
    return value.replace("\\n", "\n")


class GenerateScreen(SamplingScreen):
    """Step through generation: sample, force a candidate, undo, change the sampling live."""

    # the shown side panel, not the prompt: its text is selected on focus, and keys replace it
    MAIN_FOCUS = ("#gen-switcher > *", "#gen-text-box")
    SAVE_STEM, SAVE_WHAT = "generated", "the generated text"

    BINDINGS = [
        Binding("space", "step", "Next token"),
        Binding("up", "cursor(-1)", "Choose", show=False),
        Binding("down", "cursor(1)", "Choose", key_display="↑↓"),
        Binding("enter", "pick", "Pick"),
        Binding("backspace", "undo", "Undo"),
        Binding("r", "run", "Run/stop"),
        Binding("escape", "escape", "Stop", show=False),
        Binding("t", "temperature(-0.1)", "Temperature", show=False),
        Binding("T", "temperature(0.1)", "Temperature", key_display="t/T"),
        Binding("k", "top_k(-1)", "Top-k", show=False),
        Binding("K", "top_k(1)", "Top-k", key_display="k/K"),
        Binding("p", "top_p(-0.05)", "Top-p", show=False),
        Binding("P", "top_p(0.05)", "Top-p", key_display="p/P"),
        Binding("i", "edit_prompt", "Prompt"),
        *SAMPLING_BINDINGS,
        Binding("v", "view", "View"),
        Binding("c", "panel('gen-race')", "Cache race"),
        Binding("d", "panel('gen-tail')", "Tail draws"),
        Binding("pagedown", "scroll_view(1)", "Scroll", show=False),
        Binding("pageup", "scroll_view(-1)", "Scroll", show=False),
    ]

    @dataclass
    class Started(Message):
        prompt: str
        distribution: Distribution
        prefill_ms: float
        cache_length: int
        prompt_tokens: int
        outside: int  # characters that slid out of the context window

    @dataclass
    class Stepped(Message):
        steps: tuple[GenerationStep, ...]
        distribution: Distribution
        cache_length: int
        outside: int

    @dataclass
    class Rewound(Message):
        count: int
        distribution: Distribution
        cache_length: int
        outside: int

    @dataclass
    class Rescored(Message):
        distribution: Distribution
        sampling: SamplingConfig

    @dataclass
    class RunEnded(Message):
        pass

    def __init__(self) -> None:
        super().__init__(id="generate")
        self.runner = GenerationRunner(self, "generation")
        self.info: ModelInfo | None = None
        self.prompt_text = ""
        self.steps: list[GenerationStep] = []
        self.distribution: Distribution | None = None
        self.running = False
        self.prefill_ms = 0.0
        self.prompt_tokens = 0
        self.cache_length = 0
        self.outside = 0  # characters at the front that slid out of the context window
        self.source: WeightSource | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("generate")
        yield FitLine(id="gen-source")
        with Horizontal(id="prompt-row"):
            yield Label("prompt (i)", id="prompt-label")
            yield LineInput(
                DEFAULT_PROMPT, id="prompt", compact=True, placeholder=r"\n = newline",
                newline=r"\n", what="the prompt",
            )  # fmt: skip
        with Horizontal(id="gen-body"):
            with Vertical(id="gen-left"):
                with VerticalScroll(id="gen-text-box"):
                    yield TokenText("", id="gen-text")
                yield FitLine(id="gen-legend")
            yield SidePanel(self.runner)
        yield FitLine(id="gen-status", wide_lines=2)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#gen-text-box").border_title = "generated text"
        panel = self.query_one(ProbabilityPanel)
        panel.border_title = "next token: the ranked vocabulary"
        self.query_one("#gen-legend", FitLine).show(*probability_legend())
        self.runner.start()
        self.load_source(self.app.weights_source)
        self.update_views()

    # --- the weights ------------------------------------------------------------------------
    def load_source(self, source: WeightSource | None) -> None:
        problem = weights_problem(source, self.app)  # a missing or damaged checkpoint
        self.source = None if problem else source
        panel = self.query_one(ProbabilityPanel)
        if source is None or problem:
            panel.stop_waiting(problem or NO_WEIGHTS)
            panel.show(None, None, self.sampling())
            self.query_one("#gen-source", Static).update(
                Text(problem or NO_WEIGHTS, style="bold yellow")
            )
            return
        self.running = False
        self.distribution = None  # nothing to step from until the new weights are read
        self.runner.stop_stream()
        sampling = self.sampling()
        prompt = prompt_from_input(self.query_one("#prompt", Input).value)

        def load() -> None:
            info = self.runner.load(source, sampling, self.app.decode_weights)
            self.post_message(ModelLoaded(info))
            try:
                self._start(prompt)
            except ValueError as error:  # a prompt this vocabulary cannot spell
                self.post_message(GenerationRunner.Failed(f"{error}; starting from a newline"))
                self._start("")

        panel.show(None, None, sampling)
        panel.waiting(f"loading {source.label}…")
        self.runner.submit(load)

    # --- commands (run on the runner's thread) ----------------------------------------------
    def _start(self, prompt: str) -> None:
        session = self.runner.session
        session.reseed(self.seed)  # the same prompt, seed and settings give the same text
        distribution = session.start(prompt)
        shown = session.tokenizer.decode(session.ids[: session.prompt_length])
        self.post_message(
            self.Started(
                shown,
                distribution,
                session.prefill_ms,
                session.cache_length,
                session.prompt_length,
                len(session.outside_window),
            )
        )

    def _step(self, force: int | None = None) -> None:
        session = self.runner.session
        self._post_step(session.step(force))

    def _post_step(self, step: GenerationStep) -> None:
        session = self.runner.session
        outside = len(session.outside_window)
        self.post_message(
            self.Stepped((step,), session.distribution(), session.cache_length, outside)
        )

    def _run(self) -> None:
        session = self.runner.session
        while not self.runner.should_stop():
            self.runner.drain_urgent()
            self._post_step(session.step())
            deadline = time.monotonic() + RUN_INTERVAL
            while time.monotonic() < deadline and not self.runner.should_stop():
                self.runner.drain_urgent()
                time.sleep(0.01)
        self.post_message(self.RunEnded())

    def _rewind(self) -> None:
        session = self.runner.session
        if not session.generated:
            return
        distribution = session.rewind(1)
        outside = len(session.outside_window)
        self.post_message(self.Rewound(1, distribution, session.cache_length, outside))

    # --- actions ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.runner.session is not None and self.distribution is not None

    def action_step(self) -> None:
        if self.ready and not self.running:
            self.runner.submit(self._step)

    def action_pick(self) -> None:
        panel = self.query_one(ProbabilityPanel)
        if self.ready and not self.running and panel.selected is not None:
            token_id = panel.selected.token_id
            self.runner.submit(lambda: self._step(force=token_id))

    def action_cursor(self, delta: int) -> None:
        self.query_one(ProbabilityPanel).cursor += delta

    def action_undo(self) -> None:
        if self.ready and not self.running:
            self.runner.submit(self._rewind)

    def action_run(self) -> None:
        if not self.ready:
            return
        if self.running:
            self.action_halt()
            return
        self.running = True
        self.runner.submit(self._run)
        self.update_views()

    def action_halt(self) -> None:
        if self.running:
            self.runner.stop_stream()

    def escape_job(self) -> None:
        """Outside the prompt, esc stops a run."""
        self.action_halt()

    def action_view(self) -> None:
        self.query_one(SidePanel).switch()
        self.update_views()

    def action_scroll_view(self, pages: int) -> None:
        if self.query_one(SidePanel).current == "probs":
            self.query_one(ProbabilityPanel).page(pages)
        else:
            self.query_one(SidePanel).scroll_view(pages)

    def action_panel(self, name: str) -> None:
        """c, d: show the cache race or the tail draws, and start it (the draws follow the text
        and the settings, as the tape does)."""
        self.query_one(SidePanel).switch(name)
        self.update_views()
        if name == "gen-race" and self.ready and not self.running:
            self.query_one(CacheRace).compute()

    def action_edit_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()

    def settings_changed(self) -> None:
        self.rescore()

    def seed_changed(self) -> None:
        seed = self.seed
        self.update_views()
        if self.runner.session is not None:
            self.runner.submit_urgent(lambda: self.runner.session.reseed(seed))

    def rescore(self) -> None:
        """New settings: re-score the pending step from its kept logits (no forward pass)."""
        settings = self.settings()
        self.update_views()
        if self.runner.session is None:
            return

        def rescore() -> None:
            session = self.runner.session
            session.set_sampling(**settings)
            if session.ids:
                self.post_message(self.Rescored(session.distribution(), session.sampling))

        self.runner.submit_urgent(rescore)

    @on(Input.Submitted, "#prompt")
    def prompt_submitted(self, event: Input.Submitted) -> None:
        if self.runner.session is None:
            return
        self.running = False
        self.runner.stop_stream()
        prompt = prompt_from_input(event.value)
        self.runner.submit(lambda: self._start(prompt))
        self.set_focus(self.main_widget())

    # --- results ----------------------------------------------------------------------------
    @on(ModelLoaded)
    def loaded(self, message: ModelLoaded) -> None:
        self.info = message.info
        panel = self.query_one(ProbabilityPanel)
        panel.waiting(f"{message.info.label} loaded; preparing its decoder and prompt…", False)
        self.query_one(SidePanel).loaded(message.info.source)  # old results go at once
        self.update_views()

    @on(Started)
    def started(self, message: Started) -> None:
        self.query_one(ProbabilityPanel).cursor = 0  # a new step: back to the likeliest
        self.prompt_text = message.prompt
        self.steps = []
        self.distribution = message.distribution
        self.prefill_ms = message.prefill_ms
        self.cache_length = message.cache_length
        self.prompt_tokens = message.prompt_tokens
        self.outside = message.outside
        self.update_views()

    @on(Stepped)
    def stepped(self, message: Stepped) -> None:
        self.query_one(ProbabilityPanel).cursor = 0
        self.steps.extend(message.steps)
        self.distribution = message.distribution
        self.cache_length = message.cache_length
        self.outside = message.outside
        self.update_views()

    @on(Rewound)
    def rewound(self, message: Rewound) -> None:
        self.query_one(ProbabilityPanel).cursor = 0
        del self.steps[-message.count :]
        self.distribution = message.distribution
        self.cache_length = message.cache_length
        self.outside = message.outside
        self.update_views()

    @on(Rescored)
    def rescored(self, message: Rescored) -> None:
        self.distribution = message.distribution
        self.update_views()

    @on(RunEnded)
    def run_ended(self) -> None:
        self.running = False
        self.update_views()

    @on(GenerationRunner.Failed)
    def failed(self, message: GenerationRunner.Failed) -> None:
        self.running = False
        self.query_one("#gen-source", Static).update(Text(message.message, style="bold red"))
        self.query_one(ProbabilityPanel).stop_waiting(message.message)

    @property
    def text(self) -> str:
        """The prompt and the generated text, as the screen shows it."""
        return self.prompt_text + "".join(step.text for step in self.steps)

    def saved_text(self) -> str:
        return self.text if self.steps else ""

    def update_views(self) -> None:
        sampling = self.sampling()
        panel = self.query_one(ProbabilityPanel)
        panel.show(self.distribution, self.steps[-1] if self.steps else None, sampling)
        self.query_one(TokenText).show(self.prompt_text, self.steps, self.running, self.outside)
        self.query_one("#gen-text-box", VerticalScroll).scroll_end(animate=False)
        if self.source is not None:
            lines = source_lines(self.source.label, self.info, sampling, self.seed, self.running)
            self.query_one("#gen-source", FitLine).show(*lines)
            figures = (self.cache_length, self.prompt_tokens, self.prefill_ms, self.outside)
            status = status_lines(self.info, self.steps, *figures)
            self.query_one("#gen-status", FitLine).show(*status)
        view = self.query_one(SidePanel).following()
        if view is not None and self.ready:
            view.request_update()
