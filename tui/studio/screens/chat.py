"""The Chat screen: a conversation with streamed, KV-cached sampling from a weight snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from core import SamplingConfig
from tui.studio.formatting import format_count
from tui.studio.messages import NO_WEIGHTS, ModelInfo, ModelLoaded, WeightSource
from tui.studio.runner import GenerationRunner
from tui.studio.screens.base import StudioScreen
from tui.studio.weights_check import weights_problem
from tui.studio.widgets.common.bars import FitLine, KeyBar, ModeBar

MAX_REPLY_TOKENS = 400
STREAM_INTERVAL = 0.1  # seconds between batched messages while a reply streams


class Turn(Static):
    """One turn of the conversation."""


class ChatScreen(StudioScreen):
    """Type a line; the model continues the text until a blank line, token by token."""

    ENTRY_FOCUS = ("#chat-input",)  # a screen for typing: its input, every time it is shown
    MAIN_FOCUS = ("#conversation",)

    BINDINGS = [
        Binding("escape", "escape", "Leave the input / stop reply"),
        Binding("i", "edit", "Type"),
        Binding("up", "temperature(0.1)", "Temperature", show=False),
        Binding("down", "temperature(-0.1)", "Temperature", key_display="↑↓"),
        Binding("ctrl+r", "reset", "New chat"),
    ]

    temperature = reactive(SamplingConfig().temperature, init=False)

    @dataclass
    class Streamed(Message):
        """New reply text since the last message, with the stream's speed and cache use."""

        text: str
        tokens: int
        tokens_per_second: float
        cache_length: int
        prefill_tokens: int
        dropped_tokens: int  # slid out of the context window by this turn
        done: bool
        stopped: bool = False
        cut: bool = False  # ended at the reply limit, not at a blank line

    def __init__(self) -> None:
        super().__init__(id="chat")
        self.runner = GenerationRunner(self, "chat")
        self.info: ModelInfo | None = None
        self.source: WeightSource | None = None
        self.replying = False
        self.reply: Turn | None = None
        self.asked: Turn | None = None  # the user turn the reply answers
        self.sent = ""
        self.reply_text = ""
        self.tokens_per_second = 0.0
        self.cache_length = 0
        self.reply_tokens = 0
        self.prefill_tokens = 0
        self.dropped_tokens = 0

    def compose(self) -> ComposeResult:
        yield ModeBar("chat")
        yield Static("", id="chat-source")
        yield VerticalScroll(id="conversation")
        yield FitLine(id="chat-status", wide_lines=2)
        yield Input(id="chat-input", placeholder="say something and press enter", compact=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#conversation").border_title = "conversation"
        self.runner.start()
        self.load_source(self.app.weights_source)
        self.add_turn(
            Text(
                "This model was trained only to continue text, here plays by Shakespeare: it "
                "has no idea it is in a chat. Your line is appended to the context and the "
                "model writes on until it ends a speech with a blank line.",
                style="dim",
            ),
            "note",
        )

    def load_source(self, source: WeightSource | None) -> None:
        problem = weights_problem(source, self.app)  # a missing or damaged checkpoint
        self.source = None if problem else source
        if source is None or problem:
            self.query_one("#chat-source", Static).update(
                Text(problem or NO_WEIGHTS, style="bold yellow")
            )
            return
        self.runner.stop_stream()
        sampling = SamplingConfig(temperature=self.temperature)

        def load() -> None:
            self.post_message(ModelLoaded(self.runner.load(source, sampling)))

        self.query_one("#chat-source", Static).update(Text(f"loading {source.label}…", "dim"))
        self.runner.submit(load)

    # --- on the runner's thread -------------------------------------------------------------
    def _reply(self, line: str) -> None:
        session = self.runner.session
        started = flushed = time.perf_counter()
        tokens, pending = 0, ""

        def flush(done: bool, stopped: bool = False, cut: bool = False) -> None:
            rate = tokens / max(time.perf_counter() - started, 1e-9)
            figures = (session.cache_length, session.last_prefill, session.last_dropped)
            self.post_message(self.Streamed(pending, tokens, rate, *figures, done, stopped, cut))

        turn = session.reply(line, MAX_REPLY_TOKENS)  # the one chat rule, shared with the CLI
        for step in turn:
            tokens += 1
            pending += step.text
            if time.perf_counter() - flushed >= STREAM_INTERVAL:
                flush(done=False)
                pending, flushed = "", time.perf_counter()
            if self.runner.should_stop():
                break
            self.runner.drain_urgent()
        turn.close()
        stopped = self.runner.should_stop()
        flush(done=True, stopped=stopped, cut=not stopped and not session.last_reply_complete)

    # --- actions ----------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def send(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line:
            return
        if self.runner.session is None:
            self.notify("No weights loaded yet.", severity="warning")
            return
        if self.replying:
            self.notify(
                "The model is still replying; esc leaves the input, a second esc stops it.",
                severity="warning",
            )
            return
        event.input.value = ""
        self.sent = line  # given back to the input if the model refuses it
        self.asked = self.add_turn(Text(line, style="bold"), "user")
        self.reply = self.add_turn(Text("…", style="dim"), "model")
        self.reply_text = ""
        self.replying = True
        self.runner.submit(lambda: self._reply(line))
        self.update_status()

    def escape_job(self) -> None:
        """Outside the input, esc stops the reply."""
        if self.replying:
            self.runner.stop_stream()

    def action_edit(self) -> None:
        self.query_one("#chat-input", Input).focus()

    def action_temperature(self, delta: float) -> None:
        self.temperature = round(self.temperature + delta, 2)

    def validate_temperature(self, value: float) -> float:
        return max(0.0, min(3.0, value))

    def watch_temperature(self, value: float) -> None:
        self.update_status()
        if self.runner.session is not None:
            self.runner.submit_urgent(lambda: self.runner.session.set_sampling(temperature=value))

    def action_reset(self) -> None:
        """A new conversation with the same weights: the session forgets, the figures too."""
        if self.replying:
            self.runner.stop_stream()
        self.query_one("#conversation").remove_children()
        self.tokens_per_second, self.reply_tokens, self.cache_length = 0.0, 0, 0
        self.prefill_tokens = self.dropped_tokens = 0
        if self.runner.session is not None:
            self.runner.submit(self.runner.session.reset)
        self.update_status()

    def add_turn(self, text: Text, kind: str) -> Turn:
        turn = Turn(text, classes=f"turn {kind}")
        conversation = self.query_one("#conversation", VerticalScroll)
        conversation.mount(turn)
        conversation.scroll_end(animate=False)
        return turn

    # --- results ----------------------------------------------------------------------------
    @on(ModelLoaded)
    def loaded(self, message: ModelLoaded) -> None:
        self.info = message.info
        self.cache_length = 0
        source = Text()
        source.append(f"{self.source.label}", style="bold")
        source.append(
            f"  ({format_count(message.info.num_parameters)} params, context "
            f"{message.info.block_size} tokens)",
            style="dim",
        )
        self.query_one("#chat-source", Static).update(source)
        self.update_status()

    @on(Streamed)
    def streamed(self, message: Streamed) -> None:
        self.reply_text += message.text
        self.tokens_per_second = message.tokens_per_second
        self.cache_length = message.cache_length
        self.reply_tokens = message.tokens
        self.prefill_tokens = message.prefill_tokens
        self.dropped_tokens = message.dropped_tokens
        if self.reply is not None:
            shown = self.reply_text.strip("\n") or "…"
            text = Text(shown)
            if message.done and message.stopped:
                text.append("  [stopped]", style="dim")
            if message.done and message.cut:
                text.append(f"  [cut at {MAX_REPLY_TOKENS} tokens]", style="dim")
            self.reply.update(text)
            self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)
        if message.done:
            self.replying = False
        self.update_status()

    @on(GenerationRunner.Failed)
    def failed(self, message: GenerationRunner.Failed) -> None:
        """A refused line (a character outside the vocabulary, say) is said on the notice line,
        never as the model's words; the turn is taken back and the line returns to the input."""
        self.replying = False
        if self.reply is not None:
            for turn in (self.asked, self.reply):
                if turn is not None:
                    turn.remove()
            self.asked = self.reply = None
            field = self.query_one("#chat-input", Input)
            if not field.value:
                field.value = self.sent
                field.cursor_position = len(self.sent)
            self.notify(message.message, severity="error")
        else:
            self.query_one("#chat-source", Static).update(Text(message.message, style="bold red"))
        self.update_status()

    def update_status(self) -> None:
        info = self.info
        text = Text()
        text.append(f"temperature {self.temperature:.1f} (↑/↓)", style="bold")
        if info is not None:
            stop = "esc esc" if self.focused is self.query_one("#chat-input") else "esc"
            state = f"replying ({stop} stops)" if self.replying else "your turn"
            text.append(f" · {state}", style="green" if self.replying else "dim")
            text.append(f" · {self.tokens_per_second:.0f} tok/s · {self.reply_tokens} tokens")
            text.append(f" · KV cache {self.cache_length}/{info.block_size}", style="bold")
            short = text.copy()  # for a narrow terminal: one line
            if self.dropped_tokens:
                short.append(f" · slid, {self.dropped_tokens} dropped", style="yellow")
            text.append(
                f" · your line: prefill of {self.prefill_tokens} tokens"
                + (
                    f" (the window slid: the oldest {self.dropped_tokens} tokens were dropped)"
                    if self.dropped_tokens
                    else ""
                )
                + " · each new token: "
                f"Q [1,{info.num_heads},1,{info.head_dim}] vs K,V "
                f"[1,{info.num_heads},{self.cache_length},{info.head_dim}]",
                style="dim",
            )
            self.query_one("#chat-status", FitLine).show(text, short)
            return
        self.query_one("#chat-status", FitLine).show(text)
