"""The Chat screen: a conversation with streamed, KV-cached sampling from a weight snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from core import UNDO_TURNS, UserError
from tui.studio.formatting import compact_label, format_count, sampling_settings
from tui.studio.messages import NO_WEIGHTS, ModelInfo, ModelLoaded, WeightSource
from tui.studio.runner import GenerationRunner
from tui.studio.screens.sampling import SAMPLING_BINDINGS, SamplingScreen
from tui.studio.weights_check import weights_problem
from tui.studio.widgets.chat.conversation import Conversation, Exchange, Turn
from tui.studio.widgets.chat.history_input import HistoryInput
from tui.studio.widgets.common.bars import FitLine, KeyBar, ModeBar

MAX_REPLY_TOKENS = 400
STREAM_INTERVAL = 0.1  # seconds between batched messages while a reply streams


class ChatScreen(SamplingScreen):
    """Type a line; the model continues the text until a blank line, token by token."""

    ENTRY_FOCUS = ("#chat-input",)  # a screen for typing: its input, every time it is shown
    MAIN_FOCUS = ("#conversation",)
    SAVE_STEM, SAVE_WHAT = "chat", "the conversation"
    MAX_TEMPERATURE = 3.0

    BINDINGS = [
        Binding("escape", "escape", "Leave input / stop"),
        Binding("i", "edit", "Type"),
        Binding("up", "temperature(0.1)", "Temperature", show=False),
        Binding("down", "temperature(-0.1)", "Temperature", key_display="↑↓"),
        Binding("ctrl+g", "regenerate", "Regenerate"),
        Binding("ctrl+t", "edit_last", "Edit last"),
        Binding("ctrl+r", "reset", "New chat"),
        *SAMPLING_BINDINGS,
    ]

    @dataclass
    class Streamed(Message):
        """New reply text since the last message, with the stream's speed and cache use."""

        turn: int  # which reply: one taken back or asked again is not shown
        text: str
        tokens: int
        tokens_per_second: float
        cache_length: int
        prefill_tokens: int
        dropped_tokens: int  # slid out of the context window by this turn
        outside: int  # characters of the conversation out of the window, all turns
        done: bool
        stopped: bool = False
        cut: bool = False  # ended at the reply limit, not at a blank line

    def __init__(self) -> None:
        super().__init__(id="chat")
        self.runner = GenerationRunner(self, "chat")
        self.info: ModelInfo | None = None
        self.source: WeightSource | None = None
        self.replying = False
        self.turn = 0  # the reply being shown; Streamed messages of other turns are dropped
        self.session_turns = 0  # exchanges the session holds and can take back
        self.tokens_per_second = 0.0
        self.cache_length = 0
        self.reply_tokens = 0
        self.prefill_tokens = 0
        self.dropped_tokens = 0
        self.context_from = 0  # the first exchange shown that the session holds

    def compose(self) -> ComposeResult:
        yield ModeBar("chat")
        yield FitLine(id="chat-source")
        yield Conversation()
        yield FitLine(id="chat-status", wide_lines=2)
        yield HistoryInput(
            id="chat-input",
            placeholder="say something and press enter",
            compact=True,
            what="a chat line",
            select_on_focus=False,  # back from the conversation, typing goes on, as in a shell
        )
        yield KeyBar()

    def on_mount(self) -> None:
        self.conversation.border_title = "conversation"
        self.runner.start()
        self.load_source(self.app.weights_source)
        self.conversation.note(
            Text(
                "This model was trained only to continue text, here plays by Shakespeare: it "
                "has no idea it is in a chat. Your line is appended to the context and the "
                "model writes on until it ends a speech with a blank line.",
                style="dim",
            )
        )

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def reply(self) -> Turn | None:
        """The last reply's turn on screen."""
        last = self.conversation.last
        return last.reply if last is not None else None

    @property
    def reply_text(self) -> str:
        last = self.conversation.last
        return last.text if last is not None else ""

    def load_source(self, source: WeightSource | None) -> None:
        problem = weights_problem(source, self.app)  # a missing or damaged checkpoint
        self.source = None if problem else source
        if source is None or problem:
            self.query_one("#chat-source", Static).update(
                Text(problem or NO_WEIGHTS, style="bold yellow")
            )
            return
        self.runner.stop_stream()
        sampling = self.sampling()

        def load() -> None:
            self.post_message(
                ModelLoaded(self.runner.load(source, sampling, self.app.decode_weights))
            )

        self.query_one("#chat-source", Static).update(Text(f"loading {source.label}…", "dim"))
        self.runner.submit(load)

    # --- on the runner's thread -------------------------------------------------------------
    def _reply(self, line: str, turn: int, seed: int | None = None, again: int = 0) -> None:
        """Reply to the line; `again`: the session's turn count when the screen asked to
        regenerate its last reply (the last turn is taken back first)."""
        session = self.runner.session
        if again:  # the same line asked again: the last reply goes, the draws go on
            self._take_back(again)
        if seed is not None:  # a new conversation draws from the seed
            session.reseed(seed)
        started = flushed = time.perf_counter()
        tokens, pending = 0, ""

        def flush(done: bool, stopped: bool = False, cut: bool = False) -> None:
            rate = tokens / max(time.perf_counter() - started, 1e-9)
            figures = (
                session.cache_length,
                session.last_prefill,
                session.last_dropped,
                len(session.outside_window),
            )
            message = self.Streamed(turn, pending, tokens, rate, *figures, done, stopped, cut)
            self.post_message(message)

        stream = session.reply(line, MAX_REPLY_TOKENS)  # the one chat rule, shared with the CLI
        for step in stream:
            tokens += 1
            pending += step.text
            if time.perf_counter() - flushed >= STREAM_INTERVAL:
                flush(done=False)
                pending, flushed = "", time.perf_counter()
            if self.runner.should_stop():
                break
            self.runner.drain_urgent()
        stream.close()
        stopped = self.runner.should_stop()
        flush(done=True, stopped=stopped, cut=not stopped and not session.last_reply_complete)

    def _take_back(self, turns: int) -> None:
        """Take the last turn back, if it is still the one the screen showed as last (a line
        refused just before holds none)."""
        if self.runner.session.turns != turns:
            raise UserError("the last line was refused: there is no turn to take back")
        self.runner.session.take_back()

    # --- actions ----------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def send(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line or not self.can_reply():
            return
        field = self.query_one("#chat-input", HistoryInput)
        field.remember(line)
        field.value = ""
        self.conversation.ask(line)
        seed = self.seed if self.session_turns == 0 else None
        self.session_turns = min(self.session_turns + 1, UNDO_TURNS)
        self.start_reply(lambda turn: self._reply(line, turn, seed))

    def can_reply(self) -> bool:
        if self.runner.session is None:
            self.notify("No weights loaded yet.", severity="warning")
            return False
        if self.replying:
            self.notify(
                "The model is still replying; esc leaves the input, a second esc stops it.",
                severity="warning",
            )
            return False
        return True

    def start_reply(self, reply) -> None:
        """Show the last exchange's reply as it streams from `reply(turn)` on the runner."""
        self.turn += 1
        turn = self.turn
        self.replying = True
        self.runner.submit(lambda: reply(turn))
        self.update_status()

    def last_exchange(self, doing: str) -> Exchange | None:
        """The exchange to regenerate or edit: the last one the session holds."""
        if self.runner.session is None or self.session_turns == 0:
            self.notify(f"nothing to {doing} yet: send a line first", severity="warning")
            return None
        if self.replying:
            self.runner.stop_stream()
        return self.conversation.last

    def action_regenerate(self) -> None:
        """The last line asked again: a new reply in place of the last one."""
        exchange = self.last_exchange("regenerate")
        if exchange is None:
            return
        exchange.text, exchange.ending = "", ""
        self.conversation.show_reply(exchange)
        turns = self.session_turns
        self.start_reply(lambda turn: self._reply(exchange.line, turn, again=turns))

    def action_edit_last(self) -> None:
        """Take the last exchange back and put its line in the input, to edit and send again."""
        exchange = self.last_exchange("edit")
        if exchange is None:
            return
        self.turn += 1  # what the stopped reply still sends is not shown
        self.replying = False
        self.conversation.take_back()
        turns = self.session_turns
        self.session_turns -= 1
        self.runner.submit(lambda: self._take_back(turns))
        field = self.query_one("#chat-input", HistoryInput)
        field.remember(field.value)  # a line being typed is kept: ↑ brings it back
        field.value = exchange.line
        field.cursor_position = len(exchange.line)
        field.focus()
        self.update_status()

    def escape_job(self) -> None:
        """Outside the input, esc stops the reply."""
        if self.replying:
            self.runner.stop_stream()

    def action_edit(self) -> None:
        self.query_one("#chat-input", Input).focus()

    def settings_changed(self) -> None:
        self.show_source()
        settings = self.settings()
        if self.runner.session is not None:
            self.runner.submit_urgent(lambda: self.runner.session.set_sampling(**settings))

    def seed_changed(self) -> None:
        self.show_source()
        seed = self.seed
        if self.runner.session is not None:
            self.runner.submit_urgent(lambda: self.runner.session.reseed(seed))

    def saved_text(self) -> str:
        return self.conversation.transcript()

    def action_reset(self) -> None:
        """A new conversation with the same weights: the session forgets, the figures too."""
        if self.replying:
            self.runner.stop_stream()
        self.turn += 1
        self.replying = False
        self.conversation.clear()
        self.context_from = 0
        self.session_turns = 0
        self.tokens_per_second, self.reply_tokens, self.cache_length = 0.0, 0, 0
        self.prefill_tokens = self.dropped_tokens = 0
        if self.runner.session is not None:
            self.runner.submit(self.runner.session.reset)
        self.update_status()

    # --- results ----------------------------------------------------------------------------
    @on(ModelLoaded)
    def loaded(self, message: ModelLoaded) -> None:
        self.info = message.info
        self.cache_length = 0
        self.session_turns = 0  # a new session: the turns shown are not in its context
        self.context_from = len(self.conversation.exchanges)
        self.conversation.mark_window(0, self.context_from)
        self.show_source()
        self.update_status()

    @on(Streamed)
    def streamed(self, message: Streamed) -> None:
        exchange = self.conversation.last
        if message.turn != self.turn or exchange is None:
            return
        exchange.text += message.text
        self.tokens_per_second = message.tokens_per_second
        self.cache_length = message.cache_length
        self.reply_tokens = message.tokens
        self.prefill_tokens = message.prefill_tokens
        self.dropped_tokens = message.dropped_tokens
        if message.done and message.stopped:
            exchange.ending = "[stopped]"
        if message.done and message.cut:
            exchange.ending = f"[cut at {MAX_REPLY_TOKENS} tokens]"
        self.conversation.show_reply(exchange)
        self.conversation.mark_window(message.outside, self.context_from)
        if message.done:
            self.replying = False
        self.update_status()

    @on(GenerationRunner.Failed)
    def failed(self, message: GenerationRunner.Failed) -> None:
        """A refused line (a character outside the vocabulary, say) is said on the notice line,
        never as the model's words; the turn is taken back and the line returns to the input."""
        if self.replying and self.conversation.last is not None:
            self.replying = False
            exchange = self.conversation.take_back()
            self.session_turns = max(0, self.session_turns - 1)
            field = self.query_one("#chat-input", Input)
            if not field.value:
                field.value = exchange.line
                field.cursor_position = len(exchange.line)
            self.notify(message.message, severity="error")
        else:
            self.query_one("#chat-source", Static).update(Text(message.message, style="bold red"))
        self.update_status()

    def show_source(self) -> None:
        """The weights and every sampling setting in effect, as much as the width takes."""
        if self.source is None or self.info is None:
            return
        sampling = self.sampling()
        with_keys, _ = sampling_settings(sampling, self.seed, {"temperature": "↑↓", "form": "^o"})
        long, short = sampling_settings(sampling, self.seed)
        sizes = (
            f"  ({format_count(self.info.num_parameters)} params, context "
            f"{self.info.block_size} tokens)"
        )
        label, compact = self.source.label, compact_label(self.source.label)
        versions = []
        for shown_label, shown_sizes, settings in (
            (label, sizes, with_keys),
            (label, sizes, long),
            (label, "", long),
            (label, "", short),
            (compact, "", short),
        ):
            line = Text(shown_label, style="bold")
            line.append(shown_sizes, style="dim")
            line.append(f"   {settings}")
            versions.append(line)
        self.query_one("#chat-source", FitLine).show(*versions)

    def update_status(self) -> None:
        info = self.info
        text = Text()
        if info is not None:
            stop = "esc esc" if self.focused is self.query_one("#chat-input") else "esc"
            state = f"replying ({stop} stops)" if self.replying else "your turn"
            text.append(state, style="green" if self.replying else "dim")
            text.append(f" · {self.tokens_per_second:.0f} tok/s · {self.reply_tokens} tokens")
            text.append(f" · KV cache {self.cache_length}/{info.block_size}", style="bold")
            short = text.copy()  # for a narrow terminal: one line
            if self.dropped_tokens:
                short.append(f" · slid, {self.dropped_tokens} dropped", style="yellow")
            text.append(
                f" · your line: prefill of {self.prefill_tokens} tokens"
                + (
                    f" (the window slid: the oldest {self.dropped_tokens} tokens were dropped, "
                    "struck through above)"
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
