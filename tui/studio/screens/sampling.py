"""What the screens that sample share: the settings in effect (keys step them, a form takes
exact values), the seed, and saving the screen's text to a file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from core import SamplingConfig
from tui.studio.formatting import format_path
from tui.studio.saving import save_text
from tui.studio.screens.base import StudioScreen
from tui.studio.screens.sampling_form import SamplingForm

DEFAULTS = SamplingConfig()
SETTINGS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")
# ctrl keys: they work from the screens' text fields too
SAMPLING_BINDINGS = [
    Binding("ctrl+o", "settings", "Settings"),
    Binding("ctrl+s", "save", "Save"),
]


class SamplingScreen(StudioScreen):
    """A screen that samples: its settings as reactives (`settings_changed` applies them), its
    seed (`seed_changed`), and its text saved under `SAVE_STEM` in the working folder."""

    SAVE_STEM = "text"
    SAVE_WHAT = "the text"  # how the notice names what was saved
    MAX_TEMPERATURE = 10.0  # where the temperature keys stop; the form takes any finite value

    temperature = reactive(DEFAULTS.temperature, init=False)
    top_k = reactive(DEFAULTS.top_k or 0, init=False)  # 0 means off
    top_p = reactive(DEFAULTS.top_p, init=False)
    min_p = reactive(DEFAULTS.min_p, init=False)
    repetition_penalty = reactive(DEFAULTS.repetition_penalty, init=False)
    seed = reactive(0, init=False)

    @dataclass
    class Saved(Message):
        """A save ended: what the notice line says, and how."""

        notice: str
        severity: str

    def sampling(self) -> SamplingConfig:
        """The settings in effect."""
        return SamplingConfig(**self.settings())

    def settings(self) -> dict[str, float | int | None]:
        """The settings in effect, by SamplingConfig's names, for `session.set_sampling`."""
        return {
            "temperature": self.temperature,
            "top_k": self.top_k or None,
            "top_p": self.top_p,
            "min_p": self.min_p,
            "repetition_penalty": self.repetition_penalty,
        }

    def settings_changed(self) -> None:
        """The settings in effect changed: apply them (the screens say how)."""

    def seed_changed(self) -> None:
        """The seed changed: draw from it (the screens say how)."""

    def watch_temperature(self) -> None:
        self.settings_changed()

    def watch_top_k(self) -> None:
        self.settings_changed()

    def watch_top_p(self) -> None:
        self.settings_changed()

    def watch_min_p(self) -> None:
        self.settings_changed()

    def watch_repetition_penalty(self) -> None:
        self.settings_changed()

    def watch_seed(self) -> None:
        self.seed_changed()

    # --- the step keys ----------------------------------------------------------------------
    def action_temperature(self, delta: float) -> None:
        if self.temperature + delta > 2 or (self.temperature > 2 and delta < 0):
            delta *= 5  # 0.5 steps between 2 and 10: flat distributions, quickly
        stepped = max(0.0, round(self.temperature + delta, 2))
        if stepped <= self.MAX_TEMPERATURE or delta < 0:
            self.temperature = stepped
        elif self.temperature < self.MAX_TEMPERATURE:
            self.temperature = self.MAX_TEMPERATURE

    def action_top_k(self, delta: int) -> None:
        # off (0) sits above the largest k: K from 40 turns it off, k from off goes back to 40
        steps = [1, 2, 3, 5, 10, 20, 40, 0]
        current = self.top_k if self.top_k in steps else 40
        index = max(0, min(len(steps) - 1, steps.index(current) + delta))
        self.top_k = steps[index]

    def action_top_p(self, delta: float) -> None:
        self.top_p = max(0.05, min(1.0, round(self.top_p + delta, 2)))

    # --- the form ---------------------------------------------------------------------------
    def action_settings(self) -> None:
        self.app.push_screen(SamplingForm(self.sampling(), self.seed), self.settings_entered)

    def settings_entered(self, entered: tuple[SamplingConfig, int] | None) -> None:
        """The form's values, checked: every setting at once, applied once."""
        if entered is None:
            return
        sampling, seed = entered
        values = asdict(sampling)
        changed = False
        for name in SETTINGS:
            value = values[name] if name != "top_k" else values[name] or 0
            if getattr(self, name) != value:
                self.set_reactive(getattr(type(self), name), value)
                changed = True
        if changed:
            self.settings_changed()
        self.seed = seed  # the watcher runs only for a new seed
        self.notify("sampling settings applied")

    # --- saving -----------------------------------------------------------------------------
    def saved_text(self) -> str:
        """What ctrl+s writes to a file ("" when there is nothing yet)."""
        return ""

    def action_save(self) -> None:
        text = self.saved_text()
        if not text.strip():
            self.notify("nothing to save yet", severity="warning")
            return
        self.save(text)

    @work(thread=True, group="save")
    def save(self, text: str) -> None:
        """Write on a worker thread: a slow or full disk never stalls the screen."""
        where = ""
        try:
            folder = Path.cwd()  # raises when the working folder was removed
            where = f" in {format_path(folder)}"
            path = save_text(folder, self.SAVE_STEM, text)
        except (OSError, ValueError) as error:  # ValueError: text the encoder cannot write
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            notice = f"could not save {self.SAVE_WHAT}{where}: {reason}"
            self.post_message(self.Saved(notice, "error"))
            return
        saved = f"saved {self.SAVE_WHAT} ({len(text):,} characters) to {format_path(path)}"
        self.post_message(self.Saved(saved, "information"))

    @on(Saved)
    def said_saved(self, message: Saved) -> None:
        self.notify(message.notice, severity=message.severity)
