"""The cache race view: core's race of greedy generation with and without the KV cache, shown as
ms per token against position both ways, the cache's bytes, and whether the tokens agree."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from core import CacheRaceResult, FormatRaceResult, GenerationSession, cache_race, format_race
from tui.studio.widgets.common.probability import bar
from tui.studio.widgets.common.runner_view import RunnerView
from tui.studio.widgets.generate.format_table import format_table

PROGRESS_INTERVAL = 0.2  # seconds between progress messages while racing


class CacheRace(RunnerView):
    """c starts a race; the result stays until the next one."""

    @dataclass
    class Raced(Message):
        result: CacheRaceResult

    @dataclass
    class FormatsRaced(Message):
        result: FormatRaceResult | None  # None: this design has no one-token decoder

    def __init__(self, runner) -> None:
        super().__init__(runner, id="gen-race", classes="lab-view")
        self.result: CacheRaceResult | None = None
        self.formats: FormatRaceResult | None = None
        self.racing = False

    def compose(self) -> ComposeResult:
        yield Static("", id="race-header")
        with VerticalScroll(id="race-body", can_focus=False):
            # above the chart, whose rows run past a short panel
            yield Static("", id="race-formats")
            yield Static("", id="race-rows")

    def compute(self) -> None:
        """Start a race (on the runner's thread; a new prompt or undo stops it)."""
        if self.racing:
            return
        self.racing, self.formats = True, None

        def work(session: GenerationSession) -> Message:
            flushed, last = time.monotonic(), None
            for last in cache_race(session, self.runner.should_stop):
                if time.monotonic() - flushed >= PROGRESS_INTERVAL:
                    self.post_message(self.Raced(last))
                    flushed = time.monotonic()
            if last is None:
                raise ValueError("the race was stopped before its first token")
            self.post_message(self.Raced(last))
            if self.runner.should_stop():
                return self.FormatsRaced(None)
            return self.FormatsRaced(format_race(session, self.runner.should_stop))

        self.submit("race", work)
        self.show()

    def forget(self) -> None:
        """Other weights were loaded: the last race measured a model that is gone."""
        self.result, self.formats, self.racing = None, None, False
        self.show()

    @on(Raced)
    def raced(self, message: Raced) -> None:
        self.result, self.error = message.result, ""
        self.show()

    @on(FormatsRaced)
    def formats_raced(self, message: FormatsRaced) -> None:
        self.formats, self.racing = message.result, False
        self.show()

    @on(RunnerView.Failed)
    def race_failed(self) -> None:
        self.racing = False

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        if not self.is_mounted:
            return
        result = self.result
        header = Text()
        if self.error:
            header.append(self.error + "\n", style="bold red")
        if result is None:
            header.append(
                "racing…"
                if self.racing
                else "c: race the KV cache against recomputing the "
                "whole window, greedy from the prompt, on these weights",
                style="bold yellow" if self.racing else "dim",
            )
            self.query_one("#race-header", Static).update(header)
            return
        header.append_text(self.badge(result))
        fast, slow = result.cached_median_ms, result.uncached_median_ms
        header.append(
            f"\nwith the cache: median {fast:.2f} ms/token; the new token's query reads the "
            f"cached keys and values. Cache: {result.cache_bytes_per_token / 1024:.1f} KiB "
            f"per token, {result.cache_bytes / 1024:.0f} KiB "
            f"for the {result.cache_length} positions held now (at most {result.block_size})."
        )
        header.append(
            f"\nwithout: median {slow:.2f} ms/token ({slow / max(fast, 1e-9):.1f}×); every step "
            "runs the whole window again, so the cost grows with the position. "
            + ("racing…" if self.racing else "c races again."),
            style="dim",
        )
        self.query_one("#race-header", Static).update(header)
        self.query_one("#race-rows", Static).update(self.chart(result))
        formats = self.query_one("#race-formats", Static)
        if self.formats is not None:
            formats.update(format_table(self.formats))
        elif self.racing and result.done:
            formats.update(Text("racing the weight formats: fp32, bf16, int8…", "bold yellow"))
        else:
            formats.update("")

    def badge(self, result: CacheRaceResult) -> Text:
        count = len(result.positions)
        if result.first_difference is None:
            return Text(
                f"✓ same tokens: both paths gave the same {count} greedy tokens", "bold green"
            )
        return Text(
            f"✗ the paths differ first at position {result.first_difference}", style="bold red"
        )

    def chart(self, result: CacheRaceResult) -> Text:
        """ms per token against position, in buckets, both paths on one scale."""
        rows = max(4, min(32, len(result.positions)))
        size = -(-len(result.positions) // rows)  # positions per bucket, rounded up
        # the row: position 12, two bars with their values, the slide mark 16
        half = max(4, (self.content_width() - 14 - 16) // 2 - 8)
        buckets = [
            (
                result.positions[i],
                result.positions[min(i + size, len(result.positions)) - 1],
                statistics.median(result.cached_ms[i : i + size]),
                statistics.median(result.uncached_ms[i : i + size]),
            )
            for i in range(0, len(result.positions), size)
        ]
        top = max(slow for *_, slow in buckets) or 1.0
        text = Text(f"{'position':>11}  {'cached ms':<{half + 7}}uncached ms\n", style="bold")
        for first, last, fast, slow in buckets:
            text.append(f"{first:>5}-{last:<5} ", style="dim")
            text.append(bar(fast / top, half).ljust(half), style="green")
            text.append(f" {fast:5.2f}  ")
            text.append(bar(slow / top, half).ljust(half), style="yellow")
            text.append(f" {slow:5.2f}")
            slid = sum(first <= position <= last for position in result.slides)
            if slid:  # the bucket the slide happened in, not every one after it
                text.append("  ◂ window slid" + (f" {slid}×" if slid > 1 else ""), style="yellow")
            text.append("\n")
        return text
