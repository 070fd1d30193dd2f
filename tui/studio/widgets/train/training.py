"""The Train screen's own widgets: the run form and the status bar above the plots."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static

from core import (
    PRESETS,
    Config,
    UserError,
    check_corpus_file,
    check_training_memory,
    size_text,
    training_memory_fit,
)
from tui.studio.formatting import form_advice
from tui.studio.messages import TrainState
from tui.studio.widgets.common.notice import NOTICE_SECONDS, notice_text

FIELDS = (
    # input id, label, Config field, parser
    ("steps", "steps", "max_steps", int),
    ("batch-size", "batch size", "batch_size", int),
    ("learning-rate", "learning rate", "learning_rate", float),
    ("grad-clip", "grad clip", "grad_clip", float),
    ("seed", "seed", "seed", int),
)


STATE_LABELS = {
    TrainState.IDLE: ("○ ready", "dim"),
    TrainState.STARTING: ("◌ starting the training process…", "yellow"),
    TrainState.RUNNING: ("▶ training", "bold green"),
    TrainState.PAUSED: ("⏸ paused", "bold yellow"),
    TrainState.STOPPING: ("■ stopping, saving…", "bold yellow"),
    TrainState.FINISHED: ("✓ finished", "bold green"),
    TrainState.FAILED: ("✗ failed", "bold red"),
}


def vocab_guess(config: Config) -> int:
    """The vocabulary a run will have, before its corpus is read: BPE's target size, or the
    byte range for characters (a guess: the logits are a small part of a step's memory)."""
    return config.bpe_vocab_size if config.tokenizer == "bpe" else 256


class RunForm(Vertical):
    """Preset, corpus and the few settings a learner changes first."""

    def __init__(self, preset: str, corpus: str) -> None:
        super().__init__(id="run-form")
        self.preset = preset if preset in PRESETS else "small"
        self.corpus = corpus

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("preset", classes="form-label")
            yield Select(
                [(name, name) for name in PRESETS],
                value=self.preset,
                allow_blank=False,
                compact=True,
                id="preset",
            )
        with Horizontal(classes="form-row"):
            yield Label("corpus", classes="form-label")
            yield Input(self.corpus, compact=True, id="corpus")
        for input_id, label, _, _ in FIELDS:
            with Horizontal(classes="form-row"):
                yield Label(label, classes="form-label")
                yield Input(compact=True, id=input_id)
        yield Static("", id="form-shape")
        yield Static("", id="form-error")
        with Horizontal(classes="run-buttons"):
            yield Button("Start (t)", id="start", compact=True, variant="success")
            yield Button("Pause (p)", id="pause", compact=True)
        with Horizontal(classes="run-buttons"):
            yield Button("Stop (x)", id="stop", compact=True, variant="error")
            yield Button("Save (s)", id="save", compact=True)

    def on_mount(self) -> None:
        self.fill(PRESETS[self.preset])

    def fill(self, config: Config) -> None:
        for input_id, _, field, _ in FIELDS:
            self.query_one(f"#{input_id}", Input).value = f"{getattr(config, field):g}"
        self.describe()

    def describe(self) -> None:
        """The shape, and the memory a step of the form's settings needs against what this
        machine has, as the user types."""
        try:
            config = self.config()
        except (ValueError, UserError):
            config = None
        shown = config or PRESETS[self.preset]
        text = Text(
            f"{shown.num_layers} layers · {shown.num_heads} heads · "
            f"C={shown.embedding_dim} · block {shown.block_size}",
            style="dim",
        )
        if config is not None:
            needed, available = training_memory_fit(config, vocab_guess(config))
            if needed is None or (available is not None and needed > available):
                what = "more than any machine" if needed is None else f"≈{size_text(needed)}"
                have = f"{size_text(available)} free" if available is not None else ""
                text.append(f"\na step needs {what}; {have}: lower the batch size", "bold red")
            else:
                free = f" of {size_text(available)} free" if available is not None else ""
                text.append(f"\na step needs ≈{size_text(needed)}{free}", style="dim")
        self.query_one("#form-shape", Static).update(text)

    @on(Input.Changed)
    def value_changed(self) -> None:
        self.describe()

    @on(Select.Changed, "#preset")
    def preset_changed(self, event: Select.Changed) -> None:
        self.preset = str(event.value)
        self.fill(PRESETS[self.preset])

    def config(self) -> Config:
        """The form's config, or ValueError with a message saying what to change."""
        changes = {}
        for input_id, label, field, parse in FIELDS:
            text = self.query_one(f"#{input_id}", Input).value.strip()
            try:
                changes[field] = parse(text)
            except ValueError:
                kind = "a whole number" if parse is int else "a number"
                raise ValueError(f"{label} must be {kind}, got {text!r}") from None
        return replace(PRESETS[self.preset], **changes)

    def checked(self, with_text: bool) -> tuple[Config, str | None]:
        """The form's config and corpus file, checked as a run would check them (bounds, a
        step's memory, the corpus file); ValueError or UserError saying what to change."""
        config = self.config()
        check_training_memory(config, vocab_guess(config))
        if with_text:  # the studio was given the text itself
            return config, None
        path = self.corpus_path()
        try:
            check_corpus_file(path, config.block_size if config.tokenizer == "char" else None)
        except UserError as error:
            raise UserError(form_advice(str(error))) from None
        return config, path

    def show_state(self, state: TrainState, start: str = "Start") -> None:
        """Buttons that can act now, and fields that cannot change while a run is under way;
        `start` says what t does now (Start or Resume)."""
        active = state.active
        self.query_one("#start", Button).disabled = active
        self.query_one("#start", Button).label = f"{start} (t)"
        self.query_one("#pause", Button).disabled = not state.steppable
        paused = state is TrainState.PAUSED
        self.query_one("#pause", Button).label = "Continue (p)" if paused else "Pause (p)"
        self.query_one("#stop", Button).disabled = not active or state is TrainState.STOPPING
        self.query_one("#save", Button).disabled = not state.steppable
        for widget in self.query("Input, Select"):
            widget.disabled = active

    def corpus_path(self) -> str:
        return self.query_one("#corpus", Input).value.strip()

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(Text(message, style="bold red"))


class StatusBar(Static):
    """Step / total, losses, tokens/s, elapsed, ETA, device, parameters, state; and below them,
    for a few seconds, the screen's latest notice (in place of a toast over the plots)."""

    def __init__(self, content: str = "", id: str | None = None) -> None:
        super().__init__(content, id=id)
        self._lines: int | None = None  # wrapped lines of the content shown
        self._status_parts: tuple[Text, tuple[Text, ...]] = (Text(), ())
        self.notice_text: Text | None = None
        self._notice_timer: Timer | None = None

    def show(self, text: Text, optional: tuple[Text, ...] = ()) -> None:
        """New content, several times a second; the `optional` parts follow while they fit on
        the line. A layout pass (of the whole screen) only when the number of lines changes."""
        self._status_parts = (text, optional)
        self._display()

    def notice(self, message: str, severity: str = "information") -> None:
        """A one-line notice under the status, for NOTICE_SECONDS."""
        self.notice_text = notice_text(message, severity)
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(NOTICE_SECONDS, self.clear_notice)
        self._display()

    def clear_notice(self) -> None:
        self.notice_text = None
        self._display()

    def on_resize(self) -> None:
        self._display()

    def _display(self) -> None:
        width = max(1, self.content_size.width)
        text, optional = self._status_parts
        line = text.copy()
        for part in optional:
            if line.cell_len + part.cell_len <= width:
                line.append_text(part)
        if self.notice_text is not None:
            line = Text("\n").join([line, self.notice_text])
        lines = len(line.wrap(self.app.console, width)) if self.size.width else None
        self.update(line, layout=lines != self._lines)
        self._lines = lines

    @staticmethod
    def state_text(state: TrainState, stopped: bool = False) -> Text:
        """The run's state as the line's first, coloured words (a finished run may have been
        stopped before its last step)."""
        label, style = STATE_LABELS[state]
        if stopped and state is TrainState.FINISHED:
            label = "■ stopped"
        return Text(f"{label} ", style=style)
