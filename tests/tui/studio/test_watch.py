"""`minigpt studio --watch DIR`: the Train screen follows a run's metrics.jsonl, read-only."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from core import PRESETS, TrainingSession, set_threads
from core.checkpoint.run_folder import trim_metrics
from tui.studio.app import StudioApp
from tui.studio.widgets.common.plots import GradNormPlot, LearningRatePlot, LossPlot


@pytest.fixture
def logged_run(tmp_path, studio_corpus):
    """A real tiny run's folder (checkpoint at steps 6 and 12) and its twelve log lines."""
    run = tmp_path / "run"
    threads = set_threads(None)
    set_threads(1)
    try:
        config = replace(PRESETS["tiny"], max_steps=12, eval_interval=6)
        for _ in TrainingSession(config, studio_corpus, "cpu", run).steps():
            pass
    finally:
        set_threads(threads)
    log = run / "metrics.jsonl"
    return run, log, log.read_text().splitlines(keepends=True)


async def test_watch_follows_growth_torn_lines_and_rewrites(
    logged_run, checkpoints_dir, studio_corpus, wait_until
):
    run, log, lines = logged_run
    log.write_text("".join(lines[:8]))
    app = StudioApp(
        preset_name="tiny",
        corpus_text=studio_corpus,
        checkpoints_dir=checkpoints_dir,
        watch=str(run),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        watch = app.train_screen
        losses = watch.query_one(LossPlot).losses
        await wait_until(pilot, lambda: losses.count == 8)
        assert watch.query_one(LossPlot).val_steps == [6]
        assert watch.query_one(GradNormPlot).clip == PRESETS["tiny"].grad_clip  # from checkpoint

        with log.open("a") as file:
            file.write("".join(lines[8:10]))
        await wait_until(pilot, lambda: losses.count == 10)

        with log.open("a") as file:  # a line cut mid-write waits for its newline
            file.write(lines[10][:25])
        await pilot.pause(0.6)
        assert losses.count == 10
        with log.open("a") as file:
            file.write(lines[10][25:])
        await wait_until(pilot, lambda: losses.count == 11)

        trim_metrics(log, 6)  # a resume rewrites it, shorter, as a new file
        await wait_until(pilot, lambda: watch.reloads == 1 and losses.count == 6)
        assert watch.query_one(LearningRatePlot).rates.count == 6
        assert watch.last.step == 6

        os.truncate(log, len("".join(lines[:3])))  # cut in place: the same file, shorter
        await wait_until(pilot, lambda: watch.reloads == 2 and losses.count == 3)
        assert watch.query_one(LossPlot).val_steps == []

        watch.quiet_after = 0.3
        await wait_until(
            pilot, lambda: "no new step for" in str(watch.query_one("#train-status").render())
        )


async def test_watch_has_no_controls_and_loads_the_checkpoint(
    logged_run, checkpoints_dir, studio_corpus, wait_until
):
    run, _, _ = logged_run
    app = StudioApp(
        preset_name="tiny",
        corpus_text=studio_corpus,
        checkpoints_dir=checkpoints_dir,
        watch=str(run),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        watch = app.train_screen
        await wait_until(pilot, lambda: watch.last is not None and watch.last.step == 12)
        assert not watch.query("#run-form") and not watch.query("Button")
        await pilot.press("t")
        await pilot.press("x")
        assert watch.process is None
        assert app.weights_source is None
        await pilot.press("w")
        assert app.weights_source.checkpoint == str(run)
        await pilot.press("2")
        generate = app.screen
        await wait_until(pilot, lambda: generate.info is not None and generate.runner.idle)
        assert generate.info.step == 12


async def test_a_long_log_arrives_in_slices_the_ui_shows_one_at_a_time(
    logged_run, checkpoints_dir, studio_corpus, wait_until, monkeypatch
):
    import json

    from tui.studio.screens import watch as watch_module

    run, log, lines = logged_run
    step = json.loads(lines[0])
    longer = []
    for number in range(1, 5001):
        step.update(step=number, max_steps=5000, val_loss=None, sample=None, xray=None)
        longer.append(json.dumps(step) + "\n")
    log.write_text("".join(longer))
    monkeypatch.setattr(watch_module, "FOLLOW_SLICE", 700)
    app = StudioApp(
        preset_name="tiny",
        corpus_text=studio_corpus,
        checkpoints_dir=checkpoints_dir,
        watch=str(run),
    )
    sizes = []
    async with app.run_test(size=(160, 48)) as pilot:
        watch = app.train_screen
        shown = watch.show_progress

        def counted(message) -> None:
            sizes.append(len(message.events))
            shown(message)

        watch.show_progress = counted  # called once for each message the thread posts
        losses = watch.query_one(LossPlot).losses
        await wait_until(pilot, lambda: losses.count == 5000)
        assert watch.last.step == 5000
    assert sum(sizes) <= 5000 and max(sizes) <= 700
