"""The screens' visits in `minigpt bench studio`: from each screen's key until its first frame
is drawn and until the app is idle again, on the first visit and the second."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.table import Table
from textual.pilot import Pilot

from core import UserError


@dataclass
class Visits:
    """Milliseconds per screen (its mode name, or "help")."""

    drawn: dict[str, float] = field(default_factory=dict)  # key to the screen's first frame
    settled: dict[str, float] = field(default_factory=dict)  # key to idle: loads shown too


class FrameClock:
    """When the app last drew a frame of which screen. Textual has no public event for a drawn
    frame, so this wraps the app's `_display`, which every frame goes through (headless too)."""

    def __init__(self, app) -> None:
        self.frames: list[tuple[float, object]] = []
        display = app._display

        def timed(screen, renderable) -> None:
            self.frames.append((time.perf_counter(), screen))
            display(screen, renderable)

        app._display = timed

    def first_since(self, started: float, screen) -> float | None:
        """Seconds from `started` to the first frame of `screen` after it."""
        return next((at - started for at, s in self.frames if at >= started and s is screen), None)


async def built_ahead(pilot: Pilot, timeout: float = 30.0) -> None:
    """Wait, with no key pressed, until the app has built the screens it builds out of view
    once left alone: the first visits a user sees after a moment's look at the studio."""
    app, deadline = pilot.app, time.monotonic() + timeout
    ahead = [mode.name for mode in app.STUDIO_MODES if mode.screen.BUILD_AHEAD]
    while not all(name in app.mode_screens and app.mode_screens[name].is_mounted for name in ahead):
        if time.monotonic() > deadline:
            raise UserError(f"the studio did not build its screens ahead in {timeout:.0f} s")
        await pilot.pause(0.05)


async def screen_visits(pilot: Pilot, clock: FrameClock) -> Visits:
    """Each screen by its F key (a digit would be typed into the text field a screen focuses),
    Train last; then the help, opened and closed."""
    app, visits = pilot.app, Visits()

    async def visit(name: str, key: str) -> None:
        clock.frames.clear()
        started = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        visits.settled[name] = (time.perf_counter() - started) * 1000
        drawn = clock.first_since(started, app.screen)
        visits.drawn[name] = (drawn if drawn is not None else visits.settled[name] / 1000) * 1000

    for mode in [*app.STUDIO_MODES[1:], app.STUDIO_MODES[0]]:
        await visit(mode.name, mode.function_key)
        if app.current_mode != mode.name:
            raise UserError(f"the {mode.label} screen did not open on {mode.function_key}")
    await visit("help", "f1")
    await pilot.press("escape")
    await pilot.pause()
    app.set_focus(None)
    return visits


def visit_rows(table: Table, report: dict) -> None:
    """One row per screen: drawn and settled, on the first visit and the second."""
    first, second = report["screen_first_visit_ms"], report["screen_second_visit_ms"]
    for name, drawn in report["screen_first_drawn_ms"].items():
        table.add_row(
            f"key to {name} drawn / settled: first visit, second",
            f"{drawn:.0f} / {first[name]:.0f} ms, "
            f"{report['screen_second_drawn_ms'][name]:.0f} / {second[name]:.0f} ms",
        )
