"""The Generate screen's panel beside the text: the candidates, the prediction tape, the
sampling lab, the cache race or the tail draws, one at a time (v cycles)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ContentSwitcher

from tui.studio.runner import GenerationRunner
from tui.studio.widgets.common.bars import FitLine
from tui.studio.widgets.common.probability import ProbabilityPanel
from tui.studio.widgets.common.tape import TapeView
from tui.studio.widgets.generate.cache_race import CacheRace
from tui.studio.widgets.generate.sampling_lab import SamplingLab
from tui.studio.widgets.generate.tail_draws import TailDrawsView

VIEWS = (  # widget id, label, its short label
    ("probs", "candidates", "candidates"),
    ("gen-tape", "prediction tape", "tape"),
    ("gen-lab", "sampling lab", "lab"),
    ("gen-race", "cache race", "race"),
    ("gen-tail", "tail draws", "tail"),
)


class SidePanel(Vertical):
    """One view at a time; the screen gets the class -lab while it is not the candidates."""

    def __init__(self, runner: GenerationRunner) -> None:
        super().__init__(id="gen-right")
        self.runner = runner

    def compose(self) -> ComposeResult:
        yield FitLine(id="gen-views")
        with ContentSwitcher(initial="probs", id="gen-switcher"):
            yield ProbabilityPanel()
            yield TapeView(self.runner)
            yield SamplingLab(self.runner)
            yield CacheRace(self.runner)
            yield TailDrawsView(self.runner)

    def on_mount(self) -> None:
        self.name_source(None)
        self.show_views()

    def name_source(self, source: str | None) -> None:
        """Title every view with the weights it reads (None: none loaded yet)."""
        of = f" · {source}" if source else ""
        self.query_one(TapeView).border_title = f"prediction tape of the text so far{of}"
        self.query_one(SamplingLab).border_title = f"sampling lab: the pending step{of}"
        self.query_one(CacheRace).border_title = f"cache race: with and without the KV cache{of}"
        self.query_one(TailDrawsView).border_title = f"tail draws: with and without the cut{of}"

    def loaded(self, source: str) -> None:
        """Other weights: every view names them, and results of the old ones go at once."""
        self.name_source(source)
        self.query_one(CacheRace).forget()
        self.query_one(TailDrawsView).forget(source)

    @property
    def current(self) -> str:
        return self.query_one(ContentSwitcher).current

    def switch(self, name: str | None = None) -> None:
        """Show `name`, or the next view."""
        names = [view for view, *_ in VIEWS]
        if name is None:
            name = names[(names.index(self.current) + 1) % len(names)]
        self.query_one(ContentSwitcher).current = name
        self.screen.set_class(name != "probs", "-lab")
        self.show_views()

    def following(self) -> TapeView | SamplingLab | TailDrawsView | None:
        """The shown view that follows every step and setting, if any."""
        view = self.query_one(ContentSwitcher).visible_content
        return view if isinstance(view, TapeView | SamplingLab | TailDrawsView) else None

    def scroll_view(self, pages: int) -> None:
        """Page the shown view's rows (the candidates have none)."""
        for body in self.query_one(ContentSwitcher).visible_content.query(VerticalScroll):
            (body.scroll_page_down if pages > 0 else body.scroll_page_up)(animate=False)

    def show_views(self) -> None:
        line, labels = Text("v: ", style="dim"), Text("v: ", style="dim")
        for name, label, short_label in VIEWS:
            style = "reverse bold" if name == self.current else "dim"
            line.append(f" {label} ", style=style)
            labels.append(f" {short_label} ", style=style)
        names = [name for name, *_ in VIEWS]
        index = names.index(self.current)
        short = Text("v: ", style="dim")
        short.append(f" {VIEWS[index][1]} ", style="reverse bold")
        next_label = VIEWS[(index + 1) % len(VIEWS)][1]
        short.append(f" {index + 1}/{len(VIEWS)}, next: {next_label}", style="dim")
        self.query_one("#gen-views", FitLine).show(line, labels, short)
