"""`minigpt studio --screenshot FILE`: the studio drawn headless into an SVG, the picture the
README shows. The Generate screen on the default model, a few tokens sampled, so the candidate
panel has something to rank."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App

from tui.studio.screens.generate import GenerateScreen

LOAD_SECONDS = 60.0  # the model loads in a worker; give up (and say so) after this long


async def _until(pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LOAD_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the studio did not finish {what} in {LOAD_SECONDS:.0f} s")
        await pilot.pause(0.05)


async def _shoot(app: App, path: Path, size: tuple[int, int], tokens: int) -> None:
    async with app.run_test(size=size) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, GenerateScreen)
        await _until(pilot, lambda: screen.info is not None, "loading the model")
        for count in range(1, tokens + 1):
            await pilot.press("space")
            await _until(pilot, lambda count=count: len(screen.steps) >= count, "a token")
        await pilot.pause(0.3)
        app.save_screenshot(filename=path.name, path=str(path.parent))


def take_screenshot(app: App, path: str | Path, size: tuple[int, int], tokens: int) -> Path:
    """Draw `app` at `size` (columns, rows) after `tokens` sampled tokens; write the SVG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_shoot(app, path, size, tokens))
    return path
