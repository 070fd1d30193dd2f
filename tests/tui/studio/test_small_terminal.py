"""An 80x24 terminal: every screen keeps `? help` in its header and every key in its footer,
and Generate keeps its prompt, candidate panel and status on the screen."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import Input

from tui.studio.screens.generate import GenerateScreen
from tui.studio.widgets.common.bars import KeyBar, ModeBar, fitting
from tui.studio.widgets.common.probability import ProbabilityPanel

SMALL = (80, 24)


def _shown(widget) -> str:
    return str(widget.render())


def _on_screen(screen, widget) -> bool:
    region = widget.region
    return region.height > 0 and screen.region.contains_region(region)


async def _open(app, pilot, wait_until, key: str):
    await pilot.press(key)  # function keys switch screens even from a text box
    screen = app.screen
    await wait_until(pilot, lambda: getattr(screen, "runner", None) is None or screen.runner.idle)
    await pilot.pause()
    return screen


def test_fitting_picks_the_first_version_that_fits():
    versions = (Text("x" * 30), Text("x" * 20), Text("x" * 10))
    assert fitting(versions, 25) is versions[1]
    assert fitting(versions, 5) is versions[2]  # nothing fits: the shortest


@pytest.mark.parametrize("key", ["f2", "f3", "f4", "f5", "f6"])
async def test_header_keeps_help_and_every_screen_at_80_columns(tiny_app, wait_until, key):
    async with tiny_app.run_test(size=SMALL) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, key)
        header = _shown(screen.query_one(ModeBar))
        assert "? help" in header
        for mode in tiny_app.STUDIO_MODES:
            assert f"{mode.key} {mode.label}" in header
        assert max(len(line) for line in header.splitlines()) <= SMALL[0]


@pytest.mark.parametrize("key", ["f3", "f4", "f5", "f6"])
async def test_footer_keeps_every_key_at_80_columns(tiny_app, wait_until, key):
    async with tiny_app.run_test(size=SMALL) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, key)
        typing = isinstance(screen.focused, Input)  # letters go into the field, not the keys
        wanted = [
            binding.description
            for binding in (active.binding for active in screen.active_bindings.values())
            if binding.show and not (typing and len(binding.key) == 1)
        ]
        bar = screen.query_one(KeyBar)
        footer = _shown(bar)
        assert wanted and all(description in footer for description in wanted)
        assert "Help" in footer and "palette" in footer
        assert all(len(line) <= SMALL[0] for line in footer.splitlines())
        assert _on_screen(screen, bar)


async def test_generate_keeps_prompt_candidates_and_status_at_80x24(tiny_app, wait_until):
    async with tiny_app.run_test(size=SMALL) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, "f3")
        assert isinstance(screen, GenerateScreen)
        await wait_until(pilot, lambda: screen.distribution is not None)
        await pilot.pause()
        panel = screen.query_one(ProbabilityPanel)
        for widget in (screen.query_one("#prompt"), panel, screen.query_one("#gen-status")):
            assert _on_screen(screen, widget)
        lines = panel.render().plain.splitlines()
        assert lines[0].startswith("kept ")
        ranks = [line for line in lines if line.split() and line.split()[0].isdigit()]
        assert len(ranks) >= 10
        assert all(len(line) <= panel.size.width for line in lines)
        for line in (screen.query_one("#gen-status"), screen.query_one("#gen-source")):
            assert len(_shown(line)) <= line.size.width  # one line, nothing wrapped away
