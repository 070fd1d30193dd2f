"""Studio fixtures: a tiny checkpoint trained once per session, and an app built around it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from core import PRESETS, TrainingSession, prepare_multiprocessing, set_threads
from tui.studio.app import StudioApp

# Textual replaces stderr; the tracker must exist before any app spawns a process
prepare_multiprocessing()


CORPUS = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n\n"
    "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n"
) * 12


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny model trained in-process for a few steps, once per test session."""
    out = tmp_path_factory.mktemp("tiny-checkpoint") / "tiny"
    config = replace(PRESETS["tiny"], max_steps=20, eval_interval=20)
    threads = set_threads(None)
    set_threads(1)  # two threads crawl when anything else runs on a 2-core machine
    try:
        for _ in TrainingSession(config, CORPUS, "cpu", out).steps():
            pass
    finally:
        set_threads(threads)
    return out


@pytest.fixture
def studio_corpus() -> str:
    return CORPUS


@pytest.fixture
def checkpoints_dir(tmp_path) -> Path:
    path = tmp_path / "checkpoints"
    path.mkdir()
    return path


@pytest.fixture
def tiny_app(tiny_checkpoint, checkpoints_dir) -> StudioApp:
    return StudioApp(
        preset_name="tiny",
        corpus_text=CORPUS,
        checkpoint=str(tiny_checkpoint),
        checkpoints_dir=checkpoints_dir,
        threads=1,
    )


@pytest.fixture
def bare_app(checkpoints_dir) -> StudioApp:
    """The studio with no checkpoint anywhere: Generate and Chat must say how to make one."""
    return StudioApp(preset_name="tiny", corpus_text=CORPUS, checkpoints_dir=checkpoints_dir)


async def _wait_until(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {condition}")
        await pilot.pause(0.02)


@pytest.fixture
def wait_until():
    """`await wait_until(pilot, condition)`: let the app run until the condition holds."""
    return _wait_until


@pytest.fixture(autouse=True)
def _no_shipped_model(monkeypatch, tmp_path_factory) -> None:
    """The studio's tests never read the shipped model: a studio opened without a checkpoint
    finds none (tests that want one give it)."""
    missing = tmp_path_factory.mktemp("no-shipped-model") / "shakespeare-char"
    monkeypatch.setattr("tui.studio.app.shipped_checkpoint", lambda: missing)


@pytest.fixture
def said(monkeypatch) -> list[str]:
    """Every notice a screen shows from now on (above its key bar)."""
    from tui.studio.widgets.common.notice import NoticeLine

    notices: list[str] = []
    show = NoticeLine.show

    def record(line, message, *args):
        notices.append(message)
        show(line, message, *args)

    monkeypatch.setattr(NoticeLine, "show", record)
    return notices


async def enter_settings(pilot, **typed: str) -> None:
    """Open the exact-settings form (ctrl+o) on Generate or Chat, type values, apply them."""
    await pilot.press("ctrl+o")
    await pilot.pause()
    form = pilot.app.screen
    for name, value in typed.items():
        form.query_one(f"#set-{name}").value = value
    await pilot.press("enter")
    await pilot.pause()
