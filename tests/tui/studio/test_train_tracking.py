"""The Train form's log-to switch: the run's child logs to the tracker, and the command it
records says so; a tracker whose package is missing is refused before anything starts."""

from __future__ import annotations

import importlib.util

import pytest
from textual.widgets import Select

from core import COMMAND_FILE


async def test_log_to_tensorboard_from_the_form(tiny_app, wait_until):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard is not installed (pip install -e '.[tracking]')",
    )
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        train.query_one("#log-to", Select).value = "tensorboard"
        await pilot.press("t")
        # a whole run in a child that imports TensorBoard: slow on a busy machine
        await wait_until(pilot, lambda: train.done, timeout=120)
        assert train.finished.error is None
        out = train.process.out_dir
        assert "--log-to tensorboard" in (out / COMMAND_FILE).read_text()
    events = accumulator.EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss")]
    assert steps == list(range(1, train.finished.step + 1))


async def test_log_to_without_the_package_is_refused_on_the_form(tiny_app, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        train.query_one("#log-to", Select).value = "wandb"
        await pilot.press("t")
        assert train.process is None
        error = str(train.query_one("#form-error").render())
        assert "minigpt-studio[tracking]" in error
