"""The Runs screen as an experiment tracker: runs compared (m, v), renamed (n), annotated (a),
deleted after a question (d) and exported as CSV (e); and a studio run's command.txt, parsed
back by the real CLI into the studio's own Config."""

from __future__ import annotations

import csv
import os
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from core import PRESETS, RunLock, TrainingSession, set_threads
from tests.tui.studio.conftest import CORPUS
from tui.cli.args import config_from_args
from tui.cli.parsers import build_parser
from tui.studio.app import StudioApp
from tui.studio.screens.run_dialogs import DeleteQuestion, RunDiffScreen, TextQuestion
from tui.studio.screens.runs import RunsScreen
from tui.studio.widgets.runs.run_list import details


@pytest.fixture(scope="module")
def slower_run(tmp_path_factory) -> Path:
    """A tiny 4-step run at another learning rate and seed than the tiny checkpoint's."""
    out = tmp_path_factory.mktemp("slower") / "slower"
    config = replace(PRESETS["tiny"], max_steps=4, eval_interval=4, learning_rate=1e-3, seed=7)
    threads = set_threads(None)
    set_threads(1)
    try:
        list(TrainingSession(config, CORPUS, "cpu", out).steps())
    finally:
        set_threads(threads)
    return out


@pytest.fixture
def tracker_app(tiny_app, tiny_checkpoint, slower_run, checkpoints_dir) -> StudioApp:
    """The tiny studio over two runs: `baseline` (the newest) and `slower`."""
    shutil.copytree(slower_run, checkpoints_dir / "slower")
    for path in [checkpoints_dir / "slower", *(checkpoints_dir / "slower").iterdir()]:
        os.utime(path, (1_000_000, 1_000_000))
    shutil.copytree(tiny_checkpoint, checkpoints_dir / "baseline")
    return tiny_app


async def _open_runs(pilot, wait_until) -> RunsScreen:
    await pilot.press("6")
    runs = pilot.app.screen
    await wait_until(pilot, lambda: len(runs.rows) == 2)
    return runs


async def _type(pilot, text: str) -> None:
    """Replace what the question's box holds with `text`, typed key by key."""
    pilot.app.screen.query_one(Input).value = ""
    await pilot.press(*text)


async def test_m_then_v_shows_only_the_settings_that_differ(tracker_app, wait_until):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("m", "down", "v")
        diff = tracker_app.screen
        assert isinstance(diff, RunDiffScreen)
        assert (diff.left.name, diff.right.name) == ("baseline", "slower")
        rows = {d.name: (d.left, d.right) for d in diff.diffs}
        assert rows["learning_rate"] == ("0.003", "0.001") and rows["seed"] == ("1337", "7")
        assert "num_layers" not in rows and "corpus sha256" not in rows  # the same in both
        await pilot.press("escape")
        assert tracker_app.screen is runs
        assert str(runs.query_one("#runs-table").get_cell_at((0, 0))).startswith("◆ ")


async def test_v_without_a_mark_says_how_to_compare(said, tracker_app, wait_until):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        await _open_runs(pilot, wait_until)
        await pilot.press("v")
        assert not isinstance(tracker_app.screen, RunDiffScreen)
        assert said[-1].startswith("Mark a run with m")


async def test_n_renames_the_run_and_the_list_follows(tracker_app, checkpoints_dir, wait_until):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("m", "n")
        question = tracker_app.screen
        assert isinstance(question, TextQuestion)
        assert question.query_one(Input).value == "baseline"
        await _type(pilot, "lr 3e-3 q1")  # q and digits are text here, not keys
        assert tracker_app.screen is question
        await pilot.press("enter")
        assert tracker_app.screen is runs
        assert sorted(path.name for path in checkpoints_dir.iterdir()) == ["lr 3e-3 q1", "slower"]
        await wait_until(pilot, lambda: runs.rows[0].name == "lr 3e-3 q1")
        assert runs.marked == [(checkpoints_dir / "lr 3e-3 q1", "lr 3e-3 q1")]
        assert runs.highlighted.name == "lr 3e-3 q1" and runs.highlighted.step == 20


async def test_rename_to_a_taken_name_says_why_and_keeps_the_typed_text(
    tracker_app, checkpoints_dir, wait_until
):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("n")
        await _type(pilot, "slower")
        await pilot.press("enter")
        question = tracker_app.screen
        assert isinstance(question, TextQuestion) and question.query_one(Input).value == "slower"
        error = str(question.query_one("#question-error").render())
        assert "already exists; choose another name (nothing was renamed)" in error
        await pilot.press("escape")
        assert tracker_app.screen is runs
        assert sorted(path.name for path in checkpoints_dir.iterdir()) == ["baseline", "slower"]


async def test_a_writes_a_note_shown_in_the_table_and_the_details(
    tracker_app, checkpoints_dir, wait_until
):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("a")
        await _type(pilot, "the baseline, lr 3e-3")
        await pilot.press("enter")
        assert (checkpoints_dir / "baseline" / "note.txt").read_text() == "the baseline, lr 3e-3\n"
        await wait_until(pilot, lambda: runs.rows[0].note == "the baseline, lr 3e-3")
        assert "note" in runs.columns
        assert str(runs.query_one("#runs-table").get_cell_at((0, 8))) == "the baseline, lr 3e-3"
        assert "✎ the baseline, lr 3e-3" in details(runs.rows[0], []).plain
        assert [row.name for row in runs.rows] == ["baseline", "slower"]  # its place is kept


async def test_d_asks_then_deletes_only_what_the_project_wrote(
    said, tracker_app, checkpoints_dir, wait_until
):
    run = checkpoints_dir / "baseline"
    (run / "notes.md").write_text("the user's own")
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("d")
        question = tracker_app.screen
        assert isinstance(question, DeleteQuestion)
        text = str(question.query_one("#delete-text").render())
        assert "checkpoint.json" in text and "metrics.jsonl" in text
        assert "Keeps what MiniGPT did not write: notes.md" in text
        await pilot.press("y")
        assert [path.name for path in run.iterdir()] == ["notes.md"]
        assert "its folder stays" in said[-1]
        await wait_until(pilot, lambda: [row.name for row in runs.rows] == ["slower"])


async def test_d_then_n_deletes_nothing(tracker_app, checkpoints_dir, wait_until):
    before = sorted(path.name for path in (checkpoints_dir / "baseline").iterdir())
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        await pilot.press("d", "n")
        assert tracker_app.screen is runs
    assert sorted(path.name for path in (checkpoints_dir / "baseline").iterdir()) == before


async def test_delete_and_rename_are_refused_while_a_process_trains_into_the_run(
    said, tracker_app, checkpoints_dir, wait_until
):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        runs = await _open_runs(pilot, wait_until)
        with RunLock(checkpoints_dir / "baseline"):
            await pilot.press("d")
            assert tracker_app.screen is runs
            assert f"in use by pid {os.getpid()}" in said[-1] and "stop it first" in said[-1]
            await pilot.press("n")
            await pilot.press("x", "enter")
            error = str(tracker_app.screen.query_one("#question-error").render())
            assert f"in use by pid {os.getpid()}" in error
        assert sorted(path.name for path in checkpoints_dir.iterdir()) == ["baseline", "slower"]


async def test_e_exports_the_metrics_as_csv_and_says_where(
    said, tracker_app, checkpoints_dir, wait_until
):
    async with tracker_app.run_test(size=(160, 48)) as pilot:
        await _open_runs(pilot, wait_until)
        await pilot.press("down", "e")
        out = checkpoints_dir / "slower" / "metrics.csv"
        await wait_until(pilot, lambda: any("as CSV to" in line for line in said))
        assert "exported 4 steps of slower as CSV to " in said[-1]
        assert said[-1].endswith("slower/metrics.csv")
        with open(out, newline="") as file:
            assert [row["step"] for row in csv.DictReader(file)] == ["1", "2", "3", "4"]
        await pilot.press("e")  # again: a new file, the first one kept
        await wait_until(pilot, lambda: (checkpoints_dir / "slower" / "metrics-2.csv").exists())
        assert "the earlier export is kept" in said[-1]


async def test_a_studio_run_records_the_train_line_that_reproduces_its_config(
    tmp_path, checkpoints_dir, wait_until
):
    corpus = tmp_path / "my corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    app = StudioApp(
        preset_name="tiny", corpus_path=str(corpus), checkpoints_dir=checkpoints_dir, threads=1
    )
    async with app.run_test(size=(160, 48)) as pilot:
        train = app.train_screen
        for field, value in (("#steps", "100000"), ("#learning-rate", "0.0025"), ("#seed", "5")):
            train.query_one(field, Input).value = value
        train.query_one("#optimizer", Select).value = "sgd"  # a setting of the form alone
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        config = train.started.config
        await pilot.press("x")
        await wait_until(pilot, lambda: train.done)
        await pilot.press("t")  # resumes it
        await wait_until(pilot, lambda: train.started is not None and train.last is not None)
        await pilot.press("x")
        await wait_until(pilot, lambda: train.done)
    folder = Path(train.started.out_dir)
    first, again = (folder / "command.txt").read_text().splitlines()
    args = build_parser().parse_args(shlex.split(first)[1:])
    assert config_from_args(args) == config
    changed = {"max_steps": 100000, "learning_rate": 0.0025, "seed": 5, "optimizer": "sgd"}
    assert config == replace(PRESETS["tiny"], **changed)
    assert (args.data, args.out, args.device, args.threads) == (str(corpus), str(folder), "cpu", 1)
    resumed = build_parser().parse_args(shlex.split(again)[1:])
    assert (resumed.resume, resumed.data) == (str(folder), str(corpus))
