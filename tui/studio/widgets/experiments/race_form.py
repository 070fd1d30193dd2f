"""The Experiments screen's form (preset, steps, variants) and the list of saved races."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from core import DEFAULT_VARIANTS, PRESETS, VARIANTS, UserError, load_race, parse_variants
from tui.studio.widgets.experiments.race import question_of

DEFAULT_PRESET = "tiny"
DEFAULT_STEPS = 300
DEFAULT_CHOICE = tuple(DEFAULT_VARIANTS.split(","))  # the CLI's default
RACE_FILE = "race.json"


class RaceForm(Vertical):
    """What the next race trains: a preset, the steps per variant, and the variants."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("preset", classes="form-label")
            yield Select(
                [(name, name) for name in PRESETS],
                value=DEFAULT_PRESET,
                allow_blank=False,
                compact=True,
                id="exp-preset",
            )
        with Horizontal(classes="form-row"):
            yield Label("steps", classes="form-label")
            yield Input(str(DEFAULT_STEPS), compact=True, id="exp-steps")
        yield Label("variants (space ticks one)", classes="exp-label")
        yield SelectionList(
            *(
                Selection(
                    Text.assemble((name, "bold"), " ", (question_of(name), "dim")),
                    name,
                    name == "baseline" or name in DEFAULT_CHOICE,
                    disabled=name == "baseline",
                )
                for name in VARIANTS
            ),
            id="exp-variants",
            compact=True,
        )
        yield Static("", id="exp-hint")
        yield Static("", id="exp-error")
        with Horizontal(classes="run-buttons"):
            yield Button("Start (t)", id="exp-start", compact=True, variant="success")
            yield Button("Stop (x)", id="exp-stop", compact=True, variant="error")
        with Horizontal(classes="run-buttons"):
            yield Button("Open saved (o)", id="exp-open", compact=True)

    def on_mount(self) -> None:
        self.border_title = "race"
        self.show_hint(DEFAULT_CHOICE[0])

    def race(self) -> tuple[str, int, list[str]]:
        """(preset, steps, variants), or ValueError saying what to fix."""
        text = self.query_one("#exp-steps", Input).value.strip()
        try:
            steps = int(text)
        except ValueError:
            steps = 0
        if steps < 1:
            raise ValueError(f"steps must be a whole number above 0, got {text!r}")
        return str(self.query_one("#exp-preset", Select).value), steps, self.variants()

    def variants(self) -> list[str]:
        """The ticked variants, baseline first."""
        return parse_variants(list(self.query_one("#exp-variants", SelectionList).selected))

    def set_race(self, preset_name: str, steps: int, variants: list[str]) -> None:
        """The next race, as if chosen by hand."""
        self.query_one("#exp-preset", Select).value = preset_name
        self.query_one("#exp-steps", Input).value = str(steps)
        selection = self.query_one("#exp-variants", SelectionList)
        selection.deselect_all()
        for name in ["baseline", *variants]:
            selection.select(name)

    @on(SelectionList.SelectionHighlighted, "#exp-variants")
    def variant_highlighted(self, event: SelectionList.SelectionHighlighted) -> None:
        self.show_hint(event.selection.value)

    def show_hint(self, name: str) -> None:
        self.query_one("#exp-hint", Static).update(
            Text.assemble(
                (f"{name}: ", "bold"), question_of(name), "\n", (VARIANTS[name].shows, "dim")
            )
        )

    def show_error(self, message: str) -> None:
        self.query_one("#exp-error", Static).update(Text(message, style="bold red"))

    def show_active(self, active: bool, stopping: bool) -> None:
        """Buttons and fields for a race that runs (or not)."""
        self.query_one("#exp-start", Button).disabled = active
        self.query_one("#exp-stop", Button).disabled = not active or stopping
        self.query_one("#exp-open", Button).disabled = active
        for widget in self.query("#exp-preset, #exp-steps, #exp-variants"):
            widget.disabled = active


def saved_races(root: Path) -> list[tuple[Path, str]]:
    """Saved races under `root` (checkpoints/experiments), newest first, each with a label."""
    found = sorted(
        (path for path in root.glob(f"*/{RACE_FILE}") if path.is_file()),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    races = []
    for path in found:
        try:
            report = load_race(path)
            names = [str(v.get("name")) for v in report["variants"]]
            label = f"{len(names)} variants, {report.get('steps')} steps: {', '.join(names)}"
            if report.get("stopped"):
                label += " (stopped)"
        except (UserError, OSError, AttributeError) as error:
            label = f"unreadable: {error}"
        races.append((path.parent, label))
    return races


class RacePicker(ModalScreen[Path | None]):
    """The saved races, newest first; enter opens one, esc closes."""

    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.races = saved_races(root)

    def compose(self) -> ComposeResult:
        with Vertical(id="race-picker"):
            yield Static(f"saved races in {self.root} (newest first; enter opens, esc closes)")
            options = [
                Option(Text.assemble((folder.name, "bold"), "  ", (label, "dim")), id=str(folder))
                for folder, label in self.races
            ]
            if not options:
                options = [Option("no saved races yet: start one with t", disabled=True)]
            yield OptionList(*options, id="race-list")

    @on(OptionList.OptionSelected, "#race-list")
    def open_race(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Path(event.option.id))

    def action_close(self) -> None:
        self.dismiss(None)
