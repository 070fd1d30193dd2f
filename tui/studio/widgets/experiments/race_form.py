"""The Experiments screen's form (a scenario, or a preset and variants; steps and seeds) and
the list of saved races."""

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

from core import (
    DEFAULT_VARIANTS,
    PRESETS,
    SCENARIOS,
    VARIANTS,
    RacePlan,
    UserError,
    load_race,
    parse_variants,
    preset,
    scenario_plan,
    variants_plan,
)
from tui.studio.widgets.common.focus_frame import FocusFrame
from tui.studio.widgets.experiments.race import question_of

DEFAULT_PRESET = "tiny"
DEFAULT_STEPS = 300
DEFAULT_CHOICE = tuple(DEFAULT_VARIANTS.split(","))  # the CLI's default
RACE_FILE = "race.json"
FREE = "free"  # the scenario choice that races the ticked variants of a preset


class RaceForm(FocusFrame):
    """What the next race trains: a scenario, or a preset and the variants; the steps per
    variant and the seeds."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("scenario", classes="form-label")
            yield Select(
                [("free-form: preset + variants", FREE)] + [(name, name) for name in SCENARIOS],
                value=FREE,
                allow_blank=False,
                compact=True,
                id="exp-scenario",
            )
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
        with Horizontal(classes="form-row"):
            yield Label("seeds", classes="form-label")
            yield Input("1", compact=True, id="exp-seeds")
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

    def scenario(self) -> str | None:
        """The chosen scenario, or None for a free-form race."""
        value = str(self.query_one("#exp-scenario", Select).value)
        return None if value == FREE else value

    def plan(self) -> tuple[str, RacePlan]:
        """(preset or scenario name, the race to run), or ValueError saying what to fix."""
        steps = self._whole("steps", "#exp-steps")
        seeds = self._whole("seeds", "#exp-seeds")
        scenario = self.scenario()
        try:
            if scenario is not None:
                return scenario, scenario_plan(scenario, seeds, steps)
            name = str(self.query_one("#exp-preset", Select).value)
            return name, variants_plan(preset(name), self.variants(), steps, seeds)
        except UserError as error:
            raise ValueError(str(error)) from None

    def _whole(self, label: str, selector: str) -> int:
        text = self.query_one(selector, Input).value.strip()
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{label} must be a whole number above 0, got {text!r}")
        return value

    @on(Select.Changed, "#exp-scenario")
    def scenario_changed(self) -> None:
        """A scenario brings its own steps and two seeds; free-form, the preset's fields."""
        scenario = self.scenario()
        for widget in self.query("#exp-preset, #exp-variants"):
            widget.disabled = scenario is not None
        if scenario is not None:
            self.query_one("#exp-steps", Input).value = str(SCENARIOS[scenario].steps)
            self.query_one("#exp-seeds", Input).value = "2"
            self.query_one("#exp-hint", Static).update(
                Text.assemble((f"{scenario}: ", "bold"), SCENARIOS[scenario].setting)
            )

    def variants(self) -> list[str]:
        """The ticked variants, baseline first."""
        return parse_variants(list(self.query_one("#exp-variants", SelectionList).selected))

    def set_race(
        self, preset_name: str, steps: int, variants: list[str], scenario: str | None = None
    ) -> None:
        """The next race, as if chosen by hand."""
        self.query_one("#exp-scenario", Select).value = scenario or FREE
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
        for widget in self.query("#exp-scenario, #exp-steps, #exp-seeds"):
            widget.disabled = active
        for widget in self.query("#exp-preset, #exp-variants"):
            widget.disabled = active or self.scenario() is not None


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
            if report.get("scenario"):
                label = f"scenario {report['scenario']}: {label}"
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
