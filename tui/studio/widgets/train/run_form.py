"""The Train screen's run form: every setting `minigpt train` takes for a new run, grouped, in a
column that scrolls when the terminal is short; the buttons and the error line stay in view."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from core import (
    MAX_THREADS,
    PRESETS,
    TRACKERS,
    Config,
    UserError,
    check_corpus_file,
    check_trackers,
    check_training_memory,
    default_threads,
    size_text,
    training_memory_fit,
)
from tui.studio.formatting import form_advice
from tui.studio.messages import TrainState
from tui.studio.widgets.common.focus_frame import FocusFrame

DEVICES = ("auto", "cpu", "cuda", "mps")
LOG_TO = ("off", *TRACKERS, "both")  # the form's choices; `minigpt train --log-to` repeats
FIELD_LENGTH = 32  # characters a number field takes: no paste can fill memory


@dataclass(frozen=True)
class Field:
    """One setting on the form: its widget id, label, and the Config field it sets."""

    id: str
    label: str
    field: str | None  # None: not a Config field (device, threads)
    kind: str  # "int", "float", "optional int" (blank: the default), "choice", "switch"
    choices: tuple[str, ...] = ()


SECTIONS = (
    # training first: its steps and rates are what a learner changes most often
    (
        "training",
        (
            Field("steps", "steps", "max_steps", "int"),
            Field("batch-size", "batch size", "batch_size", "int"),
            Field("learning-rate", "learning rate", "learning_rate", "float"),
            Field("warmup-steps", "warm-up steps", "warmup_steps", "int"),
            Field("eval-interval", "eval every", "eval_interval", "int"),
            Field("grad-clip", "grad clip", "grad_clip", "float"),
            Field("optimizer", "optimizer", "optimizer", "choice", ("adamw", "sgd")),
            Field("seed", "seed", "seed", "int"),
            Field("keep-best", "keep best", "keep_best", "switch"),
            Field("early-stop", "early stop", "early_stop", "int"),
        ),
    ),
    (
        "model",
        (
            Field("num-layers", "layers", "num_layers", "int"),
            Field("num-heads", "heads", "num_heads", "int"),
            Field("embedding-dim", "width (C)", "embedding_dim", "int"),
            Field("ffn-dim", "FFN width", "ffn_dim", "optional int"),
            Field("block-size", "block size", "block_size", "int"),
            Field("dropout", "dropout", "dropout", "float"),
        ),
    ),
    (
        "data",
        (
            Field("tokenizer", "tokenizer", "tokenizer", "choice", ("char", "bpe")),
            Field("bpe-vocab-size", "BPE vocab", "bpe_vocab_size", "int"),
        ),
    ),
    (
        "machine",
        (
            Field("precision", "precision", "precision", "choice", ("auto", "fp32", "bf16")),
            Field("device", "device", None, "choice", DEVICES),
            Field("threads", "threads", None, "int"),
            Field("log-to", "log to", None, "choice", LOG_TO),
        ),
    ),
)
FIELDS = tuple(field for _, fields in SECTIONS for field in fields)


def vocab_guess(config: Config) -> int:
    """The vocabulary a run will have, before its corpus is read: BPE's target size, or the
    byte range for characters (a guess: the logits are a small part of a step's memory)."""
    return config.bpe_vocab_size if config.tokenizer == "bpe" else 256


class RunForm(FocusFrame):
    """Preset, corpus and every setting of a run, checked as they are typed."""

    def __init__(self, preset: str, corpus: str, threads: int | None = None) -> None:
        super().__init__(id="run-form")
        self.preset = preset if preset in PRESETS else "small"
        self.corpus = corpus
        self.threads = threads or default_threads()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form-fields", can_focus=False):
            with Horizontal(classes="form-row"):
                yield Label("preset", classes="form-label")
                options = [(name, name) for name in PRESETS]
                yield Select(
                    options, value=self.preset, allow_blank=False, compact=True, id="preset"
                )
            with Horizontal(classes="form-row"):
                yield Label("corpus", classes="form-label")
                yield Input(self.corpus, compact=True, id="corpus", max_length=4096)
            for section, fields in SECTIONS:
                yield Label(section, classes="form-section")
                for field in fields:
                    with Horizontal(classes="form-row"):
                        yield Label(field.label, classes="form-label")
                        yield self._widget(field)
            yield Static("", id="form-shape")
        yield Static("", id="form-error")
        with Horizontal(classes="run-buttons"):
            yield Button("Start (t)", id="start", compact=True, variant="success")
            yield Button("Pause (p)", id="pause", compact=True)
        with Horizontal(classes="run-buttons"):
            yield Button("Stop (x)", id="stop", compact=True, variant="error")
            yield Button("Save (s)", id="save", compact=True)

    @staticmethod
    def _widget(field: Field):
        if field.kind == "choice":
            options = [(choice, choice) for choice in field.choices]
            return Select(options, allow_blank=False, compact=True, id=field.id)
        if field.kind == "switch":  # a choice like the others: one look, one set of keys
            options = [("off", False), ("on", True)]
            return Select(options, allow_blank=False, compact=True, id=field.id)
        hint = "4 x width" if field.kind == "optional int" else ""
        return Input(compact=True, id=field.id, max_length=FIELD_LENGTH, placeholder=hint)

    def on_mount(self) -> None:
        self.fill(PRESETS[self.preset])
        self.query_one("#device", Select).value = "cpu"
        self.query_one("#threads", Input).value = str(self.threads)

    def fill(self, config: Config) -> None:
        """Show `config`'s settings (a preset's, or a resumed run's own)."""
        # not prevented: the screen follows the values too (the clip line, the status)
        for field in FIELDS:
            if field.field is None:
                continue
            value = getattr(config, field.field)
            widget = self.query_one(f"#{field.id}")
            if field.kind == "choice":
                widget.value = value
            elif field.kind == "switch":
                widget.value = bool(value)
            else:
                widget.value = "" if value is None else f"{value:g}"
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

    @on(Select.Changed)
    def choice_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self.preset = str(event.value)
            self.fill(PRESETS[self.preset])
        else:
            self.describe()

    def config(self) -> Config:
        """The form's config, or ValueError / UserError with a message saying what to change."""
        changes = {}
        for field in FIELDS:
            if field.field is not None:
                changes[field.field] = self._value(field)
        return replace(PRESETS[self.preset], **changes)

    def _value(self, field: Field) -> object:
        widget = self.query_one(f"#{field.id}")
        if field.kind in ("choice", "switch"):
            return widget.value
        text = widget.value.strip()
        if field.kind == "optional int" and not text:
            return None
        try:
            return float(text) if field.kind == "float" else int(text)
        except ValueError:
            kind = "a number" if field.kind == "float" else "a whole number"
            blank = " (or blank)" if field.kind == "optional int" else ""
            raise ValueError(f"{field.label} must be {kind}{blank}, got {text!r}") from None

    def machine(self) -> tuple[str, int]:
        """The device and thread count the run is to use."""
        threads = self._value(FIELDS[[f.id for f in FIELDS].index("threads")])
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be from 1 to {MAX_THREADS}, got {threads}")
        return str(self.query_one("#device", Select).value), threads

    def trackers(self) -> tuple[str, ...]:
        """The trackers the run also logs to; UserError naming the extra when one's package
        is not installed."""
        choice = str(self.query_one("#log-to", Select).value)
        names = {"off": (), "both": tuple(TRACKERS)}.get(choice, (choice,))
        return check_trackers(names)

    def checked(self, with_text: bool) -> tuple[Config, str | None]:
        """The form's config and corpus file, checked as a run would check them (bounds, a
        step's memory, the corpus file); ValueError or UserError saying what to change."""
        config = self.config()
        self.machine()
        self.trackers()
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
