"""What the Model screen's deeper views share: a result computed on the loaded weights, named by
those weights (checkpoint or run, and step), forgotten the moment other weights load."""

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

from core import GenerationSession
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
