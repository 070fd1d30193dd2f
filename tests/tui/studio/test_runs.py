"""The Runs screen: past runs listed, loaded into Generate, resumed in their own folder, several
overlaid on the Train plot; and a missing --checkpoint said on every screen that samples."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable

from core import PRESETS, TrainingSession, read_run, set_threads
from tests.tui.studio.conftest import CORPUS
from tui.studio.app import StudioApp
from tui.studio.screens.runs import RunsScreen
from tui.studio.widgets.common.notice import NoticeLine
from tui.studio.widgets.common.plots import LossPlot
from tui.studio.widgets.runs.run_list import details
from tui.studio.widgets.train.sample_log import SampleLog
from tui.studio.widgets.train.training_plots import TrainingPlots

STOPPED_AT, PLANNED = 4, 8


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A tiny run on the studio's corpus, stopped at step 4 of 8 (trained once)."""
    out = tmp_path_factory.mktemp("stopped") / "stopped"
    config = replace(PRESETS["tiny"], max_steps=PLANNED, eval_interval=STOPPED_AT)
    threads = set_threads(None)
    set_threads(1)
    try:
        session = TrainingSession(config, CORPUS, "cpu", out)
        for metrics in session.steps():
            if metrics.step == STOPPED_AT:
                session.stop()
    finally:
        set_threads(threads)
    return out


@pytest.fixture
def runs_app(tiny_app, tiny_checkpoint, stopped_run, checkpoints_dir) -> StudioApp:
    """The tiny studio over a checkpoints folder holding a finished run and a newer stopped one."""
    shutil.copytree(tiny_checkpoint, checkpoints_dir / "finished")
    for path in [checkpoints_dir / "finished", *(checkpoints_dir / "finished").iterdir()]:
        os.utime(path, (1_000_000, 1_000_000))
    shutil.copytree(stopped_run, checkpoints_dir / "stopped")
    return tiny_app


def _log_text(train) -> str:
    """The Train screen's log as one line of words (its lines wrap at the log's width)."""
    log = train.query_one(SampleLog)
    return " ".join(
        " ".join("".join(segment.text for segment in line) for line in log.lines).split()
    )


async def _open_runs(pilot, wait_until) -> RunsScreen:
    await pilot.press("6")
    runs = pilot.app.screen
    await wait_until(pilot, lambda: bool(runs.rows))
    return runs


async def test_runs_screen_lists_runs_newest_first(runs_app, wait_until):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        assert [row.name for row in runs.rows] == ["stopped", "finished"]
        assert runs.rows[0].state_text == f"stopped at step {STOPPED_AT}"
        await wait_until(pilot, lambda: runs.curves is not None)
        assert runs.curves.steps[-1] == STOPPED_AT


async def test_runs_are_listed_after_every_other_screen_was_opened(runs_app, wait_until):
    """Each open screen keeps a few worker threads busy; a later worker must still start."""
    async with runs_app.run_test(size=(160, 48)) as pilot:
        for key in ("2", "f4", "f5", "f6"):  # f-keys: Chat's input takes digits as text
            await pilot.press(key)
            await pilot.pause()
        runs = await _open_runs(pilot, wait_until)
        assert [row.name for row in runs.rows] == ["stopped", "finished"]


async def test_load_from_runs_puts_the_run_into_generate(runs_app, wait_until):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("down", "l")  # the finished run
        assert runs_app.weights_source.checkpoint == str(runs.rows[1].path)
        await pilot.press("2")
        generate = runs_app.screen
        await wait_until(pilot, lambda: generate.info is not None and generate.runner.idle)
        assert generate.info.label == "run finished"
        assert generate.info.step == PRESETS["tiny"].max_steps // 2  # the tiny checkpoint's 20


async def test_resume_from_runs_continues_from_step_n_in_the_same_folder(
    runs_app, checkpoints_dir, wait_until
):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        await _open_runs(pilot, wait_until)
        await pilot.press("r")  # the stopped run, highlighted first
        train = runs_app.train_screen
        assert runs_app.screen is train
        await wait_until(pilot, lambda: train.done)
        assert train.finished.error is None
        assert train.started.step == STOPPED_AT
        assert train.started.out_dir == str(checkpoints_dir / "stopped")
        assert f"resuming stopped from step {STOPPED_AT}" in _log_text(train)
        assert sorted(path.name for path in checkpoints_dir.iterdir()) == ["finished", "stopped"]
        assert read_run(checkpoints_dir / "stopped").step == PLANNED  # the checkpoint's plan
        # the steps it had logged are drawn before the new ones: one curve from step 1
        assert train.query_one(LossPlot).losses.count == PLANNED


async def test_resume_refuses_a_finished_run_and_names_the_command(said, runs_app, wait_until):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        await _open_runs(pilot, wait_until)
        await pilot.press("down", "r")
        assert runs_app.screen.id == "runs" and not runs_app.train_screen.active
        assert any("minigpt train --resume" in line and "--steps" in line for line in said)
        # a line above the key bar, not a toast over the table
        assert runs_app.screen.query_one(NoticeLine).display
        assert not runs_app.screen.query("Toast")


async def test_several_runs_overlay_the_train_loss_plot_each_in_its_colour(runs_app, wait_until):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await wait_until(pilot, lambda: runs.curves is not None)
        await pilot.press("g", "down")  # the stopped run, then the finished one
        await wait_until(pilot, lambda: runs.curves is not None and runs.curves.steps[-1] == 20)
        await pilot.press("g")
        plots = runs_app.train_screen.query_one(TrainingPlots)
        stopped, finished = plots.overlays.items
        assert (stopped.run.label, finished.run.label) == ("stopped", "finished")
        assert stopped.color != finished.color
        assert finished.run.steps[-1] == 20 and finished.run.val_steps == (20,)
        table = str(runs.query_one(DataTable).get_cell("0", "run"))
        assert table == "stopped ⣿"  # marked in the table
        await pilot.press("1")
        loss = runs_app.train_screen.query_one(LossPlot)
        await wait_until(
            pilot,
            lambda: (
                loss.built_request is not None and loss.built_request.version == loss.data_version
            ),
        )
        assert "┤" in loss.render().plain  # drawn with no run of its own yet
        legend = str(runs_app.train_screen.query_one("#overlay-legend").render())
        assert "⣿○ stopped" in legend and "⣿○ finished" in legend
        await pilot.press("6", "g")  # g again on the finished run: taken off
        assert [item.run.label for item in plots.overlays.items] == ["stopped"]
        await pilot.press("c")
        assert (
            len(plots.overlays) == 0
            and str(runs.query_one(DataTable).get_cell("0", "run")) == "stopped"
        )


async def test_t_after_a_stop_resumes_the_stopped_run(tiny_app, checkpoints_dir, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        train.set_steps(100000)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        await pilot.press("x")
        await wait_until(pilot, lambda: train.done)
        first, stopped_at = train.started.out_dir, train.finished.step
        name = Path(first).name
        assert f"t resumes run {name} from step {stopped_at}; n starts a new run" in (
            _log_text(train)
        )
        await pilot.press("t")
        await wait_until(pilot, lambda: train.started is not None and train.last is not None)
        assert train.started.out_dir == first and train.started.step == stopped_at
        await pilot.press("x")
        await wait_until(pilot, lambda: train.done)
        assert [path.name for path in checkpoints_dir.iterdir()] == [name]


async def test_missing_checkpoint_is_said_on_generate_chat_and_model(
    checkpoints_dir, tmp_path, wait_until
):
    missing = tmp_path / "nope"
    app = StudioApp(preset_name="tiny", checkpoint=str(missing), checkpoints_dir=checkpoints_dir)
    expected = f"no checkpoint at {missing}: train one (1, then t) or pick one in Runs (6)"
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        assert str(app.screen.query_one("#gen-source").render()) == expected
        await pilot.press("f4")
        assert str(app.screen.query_one("#chat-source").render()) == expected
        await pilot.press("f5")
        assert str(app.screen.query_one("#journey").render()) == expected


async def test_an_overlay_over_another_vocabulary_says_it_is_not_comparable(
    said, runs_app, wait_until
):
    async with runs_app.run_test(size=(160, 48)) as pilot:
        runs_app.train_screen.query_one(LossPlot).vocab_size = 1810  # a BPE run on the plot
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("down")
        await wait_until(pilot, lambda: runs.curves is not None and runs.curves.steps[-1] == 20)
        await pilot.press("g")
        assert said[-1].startswith("finished (V=") and "not 1810: not comparable" in said[-1]
        runs_app.train_screen.query_one(TrainingPlots).show_overlays()
        legend = str(runs_app.train_screen.query_one("#overlay-legend").render())
        assert "not 1810: not comparable" in legend


def test_run_details_name_the_corpus_and_its_fingerprint(tmp_path, checkpoints_dir):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    session = TrainingSession(replace(PRESETS["tiny"], max_steps=2), CORPUS, "cpu", tmp_path / "r")
    session.corpus_name = corpus.name
    list(session.steps())
    summary = read_run(tmp_path / "r")
    assert summary.corpus.startswith(f"tiny.txt · {len(CORPUS):,} characters · sha256 ")
    assert f"corpus {summary.corpus}" in details(summary, []).plain
