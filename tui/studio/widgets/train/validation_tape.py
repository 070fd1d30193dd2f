"""The prediction tape of a validation chunk while a run trains: computed by a thread of this
view on a snapshot of the weights (or the run's checkpoint), never on the weights in training."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from core import (
    Tape,
    ValidationChunks,
    WeightSnapshot,
    load_corpus,
    load_model,
    prediction_tape_of_ids,
    session_from_snapshot,
)
from tui.studio.widgets.common.tape import tape_rows


@dataclass(frozen=True, eq=False)
class Weights:
    """Where the tape's weights come from: a snapshot sent by the child, or a saved checkpoint."""

    step: int
    snapshot: WeightSnapshot | None = None
    checkpoint: str | None = None


class ValidationTapeView(VerticalScroll, can_focus=True):
    """Input, target, p(target), top guess and -log p along one chunk of the validation split."""

    BINDINGS = [
        Binding("c", "chunk(1)", "Chunk", key_display="c/C"),
        Binding("C", "chunk(-1)", "Previous chunk", show=False),
    ]

    @dataclass
    class Computed(Message):
        request: int
        tape: Tape | None
        step: int
        chunk: int  # the index shown, within range
        chunks: int
        error: str = ""

    def __init__(self, id: str = "validation-tape") -> None:
        super().__init__(id=id)
        self.weights: Weights | None = None
        self.corpus: tuple[str | None, str | None] = (None, None)  # (text, path) of the run
        self.evaluation: tuple[int, float] | None = None  # the plotted (step, val loss)
        self.index = 0
        self.tape: Tape | None = None
        self.shown: ValidationTapeView.Computed | None = None
        self.requests = 0
        self._computed_for: tuple | None = None  # (weights, index) of the last request
        self._chunks: tuple[tuple, ValidationChunks] | None = None  # cached per corpus and tokens
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Static("", id="validation-tape-header")
        yield Static("", id="validation-tape-rows")

    def on_mount(self) -> None:
        self.border_title = "Prediction tape of a validation chunk (e: back to the plots)"
        self.show()

    # --- what the screen tells it -----------------------------------------------------------
    def new_run(self, text: str | None, text_path: str | None) -> None:
        """A run starts: its corpus, whose validation split the chunks come from."""
        self.corpus = (text, text_path)
        self.weights, self.evaluation, self.tape, self.shown = None, None, None, None
        self._computed_for = None
        self.show()

    def evaluated(self, step: int, val_loss: float) -> None:
        """The run evaluated: the loss the plot shows, for the tape to stand beside."""
        self.evaluation = (step, val_loss)

    def take_weights(self, weights: Weights) -> None:
        """Newer weights (a snapshot after an evaluation, or the final checkpoint)."""
        if self.weights is not None and weights.step < self.weights.step:
            return
        self.weights = weights
        if self.display:
            self.compute()

    def toggle_on(self, screen: Screen) -> None:
        """Show this view in place of the screen's plots and focus it, or hide it again."""
        screen.remove_class("-xray")
        screen.toggle_class("-tape")
        screen.set_focus(self if screen.has_class("-tape") else None)

    def on_show(self) -> None:
        self.compute()

    def action_chunk(self, delta: int) -> None:
        self.index += delta
        self.compute(again=True)

    # --- the tape's thread ------------------------------------------------------------------
    def compute(self, again: bool = False) -> None:
        """Compute the tape for the current weights and chunk, unless it is already shown."""
        weights = self.weights
        if weights is None or (not again and self._computed_for == (weights, self.index)):
            self.show()
            return
        self._computed_for = (weights, self.index)
        self.requests += 1
        self.compute_tape(self.requests, weights, self.index, self.corpus)

    @work(thread=True, exclusive=True, group="validation-tape", name="validation-tape")
    def compute_tape(
        self, request: int, weights: Weights, index: int, corpus: tuple[str | None, str | None]
    ) -> None:
        try:
            if weights.snapshot is not None:
                session = session_from_snapshot(weights.snapshot)
                model, tokenizer = session.model, session.tokenizer
            else:
                model, checkpoint = load_model(weights.checkpoint)
                tokenizer = checkpoint.tokenizer
            chunks = self.chunks(tokenizer, corpus, model.config.block_size)
            tape = prediction_tape_of_ids(model, tokenizer, chunks.chunk(index))
            chunk = index % len(chunks)
            self.post_message(self.Computed(request, tape, weights.step, chunk, len(chunks)))
        except Exception as error:  # shown in the view; the next evaluation tries again
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.post_message(self.Computed(request, None, weights.step, index, 0, message))

    def chunks(self, tokenizer, corpus: tuple[str | None, str | None], block_size: int):
        """The run's validation chunks, encoded once per corpus, tokenizer and block size."""
        key = (corpus, tokenizer.kind, tokenizer.vocab_size, block_size)
        with self._lock:
            if self._chunks is not None and self._chunks[0] == key:
                return self._chunks[1]
        text, path = corpus
        chunks = ValidationChunks(
            tokenizer, text if text is not None else load_corpus(path), block_size
        )
        with self._lock:
            self._chunks = (key, chunks)
        return chunks

    @on(Computed)
    def computed(self, message: Computed) -> None:
        message.stop()
        if message.request != self.requests:
            return  # a newer request is on its way
        self.shown = message
        self.tape = message.tape
        self.show()

    # --- drawing ----------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        if not self.is_mounted:
            return
        header = self.query_one("#validation-tape-header", Static)
        rows = self.query_one("#validation-tape-rows", Static)
        shown = self.shown
        if shown is None or shown.tape is None:
            if shown is not None and shown.error:
                note = Text(f"no tape: {shown.error}", style="bold red")
            elif self.weights is not None:
                note = Text("computing the tape on a copy of the weights…", style="yellow")
            else:
                note = Text(
                    "The tape appears after the run's first evaluation: at each one the training "
                    "process sends a copy of its weights, and the tape runs one validation chunk "
                    "through that copy (never through the weights being trained).",
                    style="dim",
                )
            header.update(note)
            rows.update("")
            return
        header.update(self.describe(shown))
        rows.update(tape_rows(shown.tape, max(30, self.size.width - 4)))

    def describe(self, shown: Computed) -> Text:
        tape = shown.tape
        text = Text(f"validation chunk {shown.chunk + 1}/{shown.chunks}", style="bold")
        text.append(
            f" of the run's validation split, {len(tape.losses)} positions, weights of step "
            f"{shown.step} (a copy)  ·  c/C: another chunk\n",
            style="dim",
        )
        text.append(f"mean -log p = {tape.mean_loss:.4f} = this chunk's loss", style="bold cyan")
        if self.evaluation is not None:
            step, val_loss = self.evaluation
            text.append(
                f"  (the plotted validation loss, {val_loss:.4f} at step {step}, is the mean "
                "over many such chunks)",
                style="dim",
            )
        return text
