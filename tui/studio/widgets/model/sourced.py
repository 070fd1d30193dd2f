"""What the Model screen's deeper views share: a result computed on the loaded weights, named by
those weights (checkpoint or run, and step), forgotten the moment other weights load; and for
the lenses, the same computation on a freshly initialised model of that shape beside it."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import GenerationSession, MiniGPT, Tokenizer, fresh_model
from tui.studio.messages import ModelInfo
from tui.studio.widgets.common.cells import crop_lines
from tui.studio.widgets.common.runner_view import TextView


class SourcedView(TextView):
    """A text view whose result carries the weights it came from; `work` computes it on the
    runner's thread, `draw` turns it into the body's text."""

    BINDINGS = [
        Binding("i", "edit", "Text"),
        Binding("pagedown", "scroll_view(1)", "Scroll", show=False),
        Binding("pageup", "scroll_view(-1)", "Scroll", show=False),
    ]
    PREFIX = ""  # ids of the header and body: PREFIX-header, PREFIX-body, PREFIX-content

    @dataclass
    class Computed(Message):
        request: Hashable
        result: Any

    def __init__(self, runner, id: str) -> None:
        super().__init__(runner, id=id)
        self.info: ModelInfo | None = None  # the weights loaded now
        self.result: Any = None
        self.result_source: str | None = None  # the weights `result` was computed on
        self.request: Hashable | None = None  # what `result` answers

    @property
    def source(self) -> str | None:
        return self.info.source if self.info is not None else None

    def compose_body(self):
        with VerticalScroll(id=f"{self.PREFIX}-body", classes="xray-body", can_focus=False):
            yield Static("", id=f"{self.PREFIX}-content")

    def set_model(self, info: ModelInfo) -> None:
        """Other weights: the old result no longer describes them, so it goes at once."""
        if self.info is not None and info.source == self.source:
            return
        self.info = info
        self.result = self.result_source = self.request = None
        self.stale = True
        self.show()

    # --- computing --------------------------------------------------------------------------
    def make_request(self) -> Hashable:
        raise NotImplementedError

    def work(self, session: GenerationSession, request: Any) -> Any:
        raise NotImplementedError

    def compute(self) -> None:
        if self.info is None or not self.text:
            return
        request = self.make_request()
        source = self.source
        work: Callable[[GenerationSession, Any], Any] = self.work
        self.submit(
            (source, request),
            lambda session: self.Computed((source, request), work(session, request)),
        )
        self.show()

    def recompute(self) -> None:
        """The view's settings changed: compute again if there is something to compute on."""
        if self.text and self.info is not None:
            self.compute()

    @on(Computed)
    def computed(self, message: Computed) -> None:
        message.stop()
        source, request = message.request
        if message.request != self.pending or source != self.source:
            return  # a newer request is on its way, or these weights are gone
        self.result, self.result_source, self.request = message.result, source, request
        self.error = ""
        self.arrived()
        self.show()

    def arrived(self) -> None:
        """A result came in: clamp what depends on its size."""

    # --- drawing ----------------------------------------------------------------------------
    def action_scroll_view(self, pages: int) -> None:
        body = self.query_one(f"#{self.PREFIX}-body", VerticalScroll)
        (body.scroll_page_down if pages > 0 else body.scroll_page_up)(animate=False)

    def on_resize(self) -> None:
        self.show()

    def header(self) -> Text:
        """The weights the shown result came from, then the view's own settings."""
        text = Text()
        source = self.result_source or self.source
        settings = self.settings_line()
        if source:
            text.append(f"{source} · ", style="dim")
            if text.cell_len + settings.cell_len > self.content_width():
                text = Text(f"{source}\n", style="dim")  # narrow: the settings on their own line
        text.append_text(settings)
        if self.pending is not None and self.pending != (self.source, self.request):
            text.append("  computing…", style="yellow")
        return text

    def settings_line(self) -> Text:
        return Text()

    def draw(self, result: Any, width: int) -> Text:
        raise NotImplementedError

    def show(self) -> None:
        if not self.is_mounted:
            return
        width = self.content_width()
        self.query_one(f"#{self.PREFIX}-header", Static).update(crop_lines(self.header(), width))
        content = Text()
        if self.result is None or self.error:
            waiting = "computing…" if self.text else "type a text and press enter"
            content.append(self.error or waiting, style="bold yellow")
        if self.result is not None:
            content.append("\n" if content else "")
            content.append_text(self.draw(self.result, width))
        self.query_one(f"#{self.PREFIX}-content", Static).update(crop_lines(content, width))


FRESH = "fresh init, same shape"


@dataclass(frozen=True)
class Beside:
    """A lens on the loaded weights and, when asked for, on the same shape freshly initialised."""

    loaded: Any
    fresh: Any | None  # None: not asked for
    seed: int  # the config's seed, which the fresh weights were drawn from


class FreshBesideView(SourcedView):
    """f shows the same lens on a freshly initialised model of the same config and seed (what
    training started from) beside the loaded weights; `lens` computes one, `draw_beside` draws
    the pair, each under its name."""

    BINDINGS = [*SourcedView.BINDINGS, Binding("f", "fresh", "Fresh init beside")]

    def __init__(self, runner, id: str) -> None:
        super().__init__(runner, id=id)
        self.beside_fresh = False

    def action_fresh(self) -> None:
        self.beside_fresh = not self.beside_fresh
        self.recompute()
        self.show()

    def lens(self, model: MiniGPT, tokenizer: Tokenizer, request: Any) -> Any:
        raise NotImplementedError

    def work(self, session: GenerationSession, request: Any) -> Beside:
        model, tokenizer = session.model, session.tokenizer
        fresh = self.lens(fresh_model(model), tokenizer, request) if request.fresh else None
        return Beside(self.lens(model, tokenizer, request), fresh, model.config.seed)

    def header(self) -> Text:
        """The weights and settings, then what is shown beside them and how to change it: on
        the same line where it fits, else on its own, never cut off."""
        text = super().header()
        if self.beside_fresh:
            hint = Text(f"beside a {FRESH} (f: weights alone)", style="cyan")
        else:
            hint = Text("f: beside a fresh init", style="dim")
        last = text.split("\n")[-1]
        if last.cell_len + hint.cell_len + 3 <= self.content_width():
            return text.append(" · ").append_text(hint)
        return text.append("\n").append_text(hint)

    def names(self, beside: Beside) -> list[str]:
        """What each shown result is, loaded weights first."""
        names = [self.result_source or self.source or "these weights"]
        if beside.fresh is not None:
            names.append(f"{FRESH} (seed {beside.seed}, never trained)")
        return names

    def draw(self, beside: Beside, width: int) -> Text:
        if beside.fresh is None:
            return self.draw_one(beside.loaded, width)
        return self.draw_beside(beside, width)

    def draw_one(self, result: Any, width: int) -> Text:
        raise NotImplementedError

    def draw_beside(self, beside: Beside, width: int) -> Text:
        raise NotImplementedError
