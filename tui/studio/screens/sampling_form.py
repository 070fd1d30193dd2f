"""The sampling settings form: an exact value for every setting the CLI takes, checked as
SamplingConfig checks them, applied on enter."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from core import SamplingConfig, UserError, check_seed
from tui.studio.formatting import format_setting
from tui.studio.widgets.common.line_input import LineInput
from tui.studio.widgets.common.notice import NoticeLine

FORM_MAX_LENGTH = 32  # a number, however it is written


@dataclass(frozen=True)
class Field:
    name: str  # SamplingConfig's field, or "seed"
    label: str
    hint: str
    whole: bool = False  # an integer


FIELDS = (
    Field("temperature", "temperature", ">= 0; 0 is greedy, below 1 sharpens"),
    Field("top_k", "top-k", "keep the k likeliest; 0: off", whole=True),
    Field("top_p", "top-p", "(0, 1]: the likeliest up to this mass"),
    Field("min_p", "min-p", "[0, 1): drop p below this x the top p"),
    Field("repetition_penalty", "repetition penalty", "> 0; above 1 shuns tokens seen"),
    Field("seed", "seed", "whole, >= 0: same seed, same draws", whole=True),
)


def parse_settings(values: dict[str, str], base: SamplingConfig) -> tuple[SamplingConfig, int]:
    """The typed values as settings and a seed; a UserError names the first bad one."""
    numbers: dict[str, float | int | None] = {}
    for field in FIELDS:
        typed = values[field.name].strip()
        if field.name == "top_k" and typed.lower() in ("", "0", "off", "none"):
            numbers[field.name] = None
            continue
        try:
            numbers[field.name] = int(typed) if field.whole else float(typed)
        except ValueError:
            kind = "a whole number" if field.whole else "a number"
            raise UserError(f"{field.label} must be {kind}, got {typed!r}") from None
    seed = int(numbers.pop("seed"))
    try:
        check_seed(seed)
        return replace(base, **numbers), seed
    except UserError as error:  # SamplingConfig's own words, with the form's names
        message = str(error)
        for field in FIELDS:
            message = message.replace(field.name, field.label)
        raise UserError(message) from None


def typed_values(sampling: SamplingConfig, seed: int) -> dict[str, str]:
    """What the form shows for settings in effect."""
    return {
        "temperature": format_setting(sampling.temperature),
        "top_k": str(sampling.top_k or 0),
        "top_p": format_setting(sampling.top_p),
        "min_p": format_setting(sampling.min_p),
        "repetition_penalty": format_setting(sampling.repetition_penalty),
        "seed": str(seed),
    }


class SamplingForm(ModalScreen[tuple[SamplingConfig, int] | None]):
    """Every sampling setting as a field: enter applies them all (or says on the form's notice
    line which one is wrong, and keeps it open), esc leaves them as they were."""

    # priority: the app moves focus as it reads the key, so keys typed right after it (a
    # quick typist, a terminal sending a burst) land in the next field, not in this one
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("up,shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
        Binding("down,tab", "app.focus_next", "Next field", show=False, priority=True),
    ]

    def __init__(self, sampling: SamplingConfig, seed: int, focus: str = "temperature") -> None:
        super().__init__(id="sampling-form")
        self.sampling = sampling
        self.seed = seed
        self.first = focus

    def compose(self) -> ComposeResult:
        values = typed_values(self.sampling, self.seed)
        with Vertical(id="sampling-box"):
            for field in FIELDS:
                with Horizontal(classes="sampling-row"):
                    yield Label(field.label, classes="sampling-label")
                    yield LineInput(
                        values[field.name],
                        id=f"set-{field.name}",
                        classes="sampling-input",
                        compact=True,
                        max_length=FORM_MAX_LENGTH,
                        what=f"the {field.label} field",
                    )
                    yield Static(Text(field.hint, style="dim"), classes="sampling-hint")
            yield Static(
                Text("enter applies · esc cancels · ↑↓ or tab move", style="dim"),
                id="sampling-keys",
            )
            yield NoticeLine()

    def on_mount(self) -> None:
        self.query_one("#sampling-box").border_title = "sampling settings"
        self.query_one(f"#set-{self.first}", Input).focus()

    def notify(self, message: str, *, severity: str = "information", **_) -> None:
        """On the form's own notice line: the screen's is under the form."""
        self.query_one(NoticeLine).show(message, severity)

    @on(Input.Submitted)
    def apply(self) -> None:
        values = {field.name: self.query_one(f"#set-{field.name}", Input).value for field in FIELDS}
        try:
            self.dismiss(parse_settings(values, self.sampling))
        except UserError as error:
            self.notify(str(error), severity="error")

    def action_cancel(self) -> None:
        self.dismiss(None)
