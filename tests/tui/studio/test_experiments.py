"""The Experiments screen: a race in a child process, its table and curves, and saved races."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from core import PRESETS, load_race, race, results_to_dict, save_race
from tui.studio.app import MODES, StudioApp
from tui.studio.screens.experiments import ExperimentsScreen
from tui.studio.screens.help import help_markdown
from tui.studio.widgets.experiments.race import (
    Lane,
    Point,
    RacePlot,
    RaceTable,
    best_lane,
    bpc_at_seconds,
    same_seconds,
    same_step,
)
from tui.studio.widgets.experiments.race_form import RaceForm, RacePicker
from tui.studio.widgets.experiments.race_notes import race_notes


async def _experiments(app, pilot) -> ExperimentsScreen:
    await pilot.press("5")
    screen = app.screen
    assert isinstance(screen, ExperimentsScreen)
    return screen


def _column(table: RaceTable, key: str) -> list[str]:
    return [str(table.get_cell(row.key, key)) for row in table.ordered_rows]


def _saved_race(folder: Path, corpus: str, variants: list[str]) -> Path:
    """A real (tiny, four-step) race run in this process and saved as the studio saves one."""
    base = replace(PRESETS["tiny"], eval_batches=1)
    *_, results = race(base, corpus, variants, 4, evaluations=2)
    return save_race(folder, results_to_dict(results, base, 4))


async def test_two_variant_race_fills_the_table_draws_each_curve_and_is_saved(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        screen.set_race("tiny", 20, ["mask-zero"])
        await pilot.press("t")
        assert screen.active
        await wait_until(pilot, lambda: screen.finished is not None, timeout=90)
        assert screen.finished.error is None, screen.finished.error
        assert not screen.finished.stopped

        table = screen.query_one(RaceTable)
        # the best is the lowest loss under the real causal mask: never the leak's own loss
        assert _column(table, "variant") == ["baseline ★", "mask-zero"]
        assert _column(table, "step") == ["20", "20"]
        keys = ("causal", "causal-bpc", "params", "ms", "tok", "memory", "same-step", "same-time")
        for key in keys:
            assert "…" not in _column(table, key), key
        # mask-zero's future leaks: its loss under the real causal mask is the worse one
        mask_zero = screen.lanes[1]
        assert mask_zero.result["causal_val_loss"] > mask_zero.result["val_loss"]

        plot = screen.query_one(RacePlot)
        assert [name for name, _, _ in plot.curves] == ["baseline", "mask-zero"]
        assert all(len(points) > 2 for _, _, points in plot.curves)
        await wait_until(
            pilot,
            lambda: (
                plot.built_request is not None and plot.built_request.version == plot.data_version
            ),
        )
        assert "┤" in plot.render().plain
        assert "baseline" in str(plot.border_subtitle) and "causal mask" in str(
            plot.border_subtitle
        )

        saved = Path(screen.finished.path)
        assert saved.name == "race.json"
        assert saved.parent.parent == tiny_app.checkpoints_dir / "experiments"
        assert [v["name"] for v in load_race(saved)["variants"]] == ["baseline", "mask-zero"]
        assert screen.process.join(timeout=10)


async def test_quit_while_racing_stops_and_saves_the_race_first(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        screen.set_race("tiny", 100_000, ["no-scale"])
        await pilot.press("t", "q", "y")  # before the child has trained a step; y: stop, save
        assert tiny_app.is_running  # still waiting for the race to be saved
        await wait_until(pilot, lambda: screen.finished is not None, timeout=90)
    assert screen.finished.error is None, screen.finished.error
    assert screen.finished.stopped
    saved = load_race(screen.finished.path)
    assert saved["stopped"] and 0 < saved["variants"][0]["curve"][-1]["step"] < 100_000
    assert screen.process.join(timeout=10)


async def test_reopening_a_saved_race_lists_newest_first_and_shows_its_rows(
    tiny_app, studio_corpus
):
    root = tiny_app.checkpoints_dir / "experiments"
    older = _saved_race(root / "tiny-older", studio_corpus, ["no-position"])
    newer = _saved_race(root / "tiny-newer", studio_corpus, ["no-scale", "post-norm"])
    os.utime(older, (1_000_000, 1_000_000))
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        await pilot.press("o")
        picker = tiny_app.screen
        assert isinstance(picker, RacePicker)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == [str(newer.parent), str(older.parent)]
        await pilot.press("enter")
        assert tiny_app.screen is screen

        table = screen.query_one(RaceTable)
        names = [name.removesuffix(" ★") for name in _column(table, "variant")]
        assert names == ["baseline", "no-scale", "post-norm"]
        report = load_race(newer)
        assert _column(table, "causal-bpc") == [
            f"{v['causal_val_bpc']:.3f}" for v in report["variants"]
        ]
        assert _column(table, "same-step") == _column(table, "causal-bpc")  # all at step 4
        assert [name for name, _, _ in screen.query_one(RacePlot).curves] == [
            "baseline",
            "no-scale",
            "post-norm",
        ]
        assert "opened" in str(screen.query_one("#exp-status").render())
        form = screen.query_one(RaceForm)  # the form shows the race opened, to run it again
        label, plan = form.plan()
        assert (label, plan.steps) == ("tiny", int(report["steps"]))
        assert plan.names == ["baseline", "no-scale", "post-norm"]


async def test_plot_and_table_appear_with_the_first_race_on_the_axis_chosen_before(
    tiny_app, studio_corpus
):
    root = tiny_app.checkpoints_dir / "experiments"
    _saved_race(root / "tiny-one", studio_corpus, ["no-scale"])
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        # nothing to plot yet: a note holds the plot's place, and no empty table is drawn
        assert not screen.query(RacePlot) and not screen.query(RaceTable)
        waiting = screen.query_one("#race-waiting")
        assert "start a race" in str(waiting.render())
        await pilot.press("s")  # the axis is chosen before any race
        assert str(waiting.border_title).endswith("vs training seconds")
        await pilot.press("o", "enter")
        await pilot.pause()
        assert not screen.query("#race-waiting")
        plot = screen.query_one(RacePlot)
        assert [name for name, _, _ in plot.curves] == ["baseline", "no-scale"]
        assert plot.seconds_axis
        assert str(plot.border_title).endswith("vs training seconds")
        await pilot.press("s")
        assert str(plot.border_title).endswith("vs step")
        assert len(screen.query_one(RaceTable).rows) == 2


async def test_typed_keys_stay_in_the_steps_field_and_escape_leaves_it(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        steps = screen.query_one("#exp-steps", Input)
        steps.focus()
        await pilot.press("end", "t", "o", "x", "s", "f", "q", "5")
        assert steps.value.endswith("toxsfq5")
        assert screen.process is None and tiny_app.screen is screen and tiny_app.is_running
        await pilot.press("escape")
        assert not isinstance(screen.focused, Input)
        await pilot.press("o")  # a screen key again
        assert isinstance(tiny_app.screen, RacePicker)


async def test_bad_step_count_says_what_to_change(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        screen.query_one("#exp-steps", Input).value = "many"
        await pilot.press("t")
        assert screen.process is None
        assert "steps must be a whole number" in str(screen.query_one("#exp-error").render())


@pytest.mark.parametrize("kind", ["directory", "fifo"])
async def test_a_special_corpus_file_is_named_for_what_it_is(kind, tmp_path, checkpoints_dir):
    corpus = tmp_path / "corpus"
    corpus.mkdir() if kind == "directory" else os.mkfifo(corpus)
    app = StudioApp(preset_name="tiny", corpus_path=str(corpus), checkpoints_dir=checkpoints_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(app, pilot)
        await pilot.press("t")
        assert screen.process is None
        said = str(screen.query_one("#exp-error").render())
        assert ("is a directory" if kind == "directory" else "named pipe (FIFO)") in said
        assert "does not exist" not in said and "corpus field" in said
    assert list(checkpoints_dir.iterdir()) == []


def test_equal_footing_is_the_latest_common_step_and_the_shortest_training_time():
    fast = Lane("baseline", "", "", (0, 0, 0))
    slow = Lane("no-scale", "", "", (0, 0, 0))
    fast.points = [Point(0, 0.0, 4, 6.0, 4), Point(10, 1.0, 3, 4.0, 3), Point(20, 2.0, 2, 3.0, 2)]
    slow.points = [Point(0, 0.0, 4, 6.0, 4), Point(10, 4.0, 3, 5.0, 3)]
    assert same_step([fast, slow]) == 10
    assert same_seconds([fast, slow]) == 2.0  # the fast one's last time, reached by both
    assert bpc_at_seconds(fast, 2.0) == 3.0
    assert bpc_at_seconds(slow, 2.0) == pytest.approx(5.5)  # halfway from 6.0 to 5.0


def test_a_lane_averages_its_seeds_once_every_seed_has_reached_a_step():
    lane = Lane("baseline", "", "", (0, 0, 0), seeds=2)
    lane.add(0, Point(10, 1.0, 3.0, 4.0, 3.0))
    assert lane.points == []  # seed 1 has not reached step 10
    lane.add(1, Point(10, 3.0, 2.0, 3.0, 2.0))
    (mean,) = lane.points
    assert (mean.step, mean.seconds, mean.causal_val_loss) == (10, 2.0, 2.5)
    assert (mean.causal_low, mean.causal_high) == (2.0, 3.0) and lane.spread == 0.5


def test_best_is_the_lowest_causal_loss_never_a_leak_s_own_loss():
    honest = Lane("baseline", "", "", (0, 0, 0), points=[Point(10, 1.0, 2.5, 3.0, 2.5)])
    leaky = Lane("mask-zero", "", "", (0, 0, 0), points=[Point(10, 1.0, 1.0, 1.5, 2.9)])
    assert best_lane([honest, leaky]) == "baseline"


def test_notes_give_the_lesson_only_beside_a_verdict_that_agrees():
    lanes = [Lane("baseline", "", "", (0, 0, 0)), Lane("no-scale", "q", "fixed caption", (0, 0, 0))]
    verdicts = [
        {"line": "no-scale: 0.30 nats behind", "agrees": True, "lesson": "softmax saturates"},
        {"line": "one-head: no difference at this size", "agrees": False, "lesson": ""},
    ]
    text = race_notes(lanes, verdicts).plain
    assert "why: softmax saturates" in text and "no difference at this size" in text
    assert "fixed caption" not in text  # the variant's caption waits for the numbers


async def test_a_scenario_brings_its_arms_steps_and_seeds(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _experiments(tiny_app, pilot)
        form = screen.query_one(RaceForm)
        form.set_race("tiny", 150, [], "sgd")
        await pilot.pause()
        label, plan = form.plan()
        assert label == "sgd" and plan.names == ["adam", "sgd", "sgd-tuned"]
        assert plan.seeds == 2 and plan.steps == 150
        assert "scenario sgd" in str(screen.query_one("#race-notes-text").render())


def test_help_explains_the_experiments_screen():
    text = help_markdown(MODES)
    for concept in ("ablation race", "bits per character", "leaked", "same time"):
        assert concept in text, concept
    assert "**5**/**f6** Experiments" in text


@pytest.fixture
def layout_app(studio_corpus, checkpoints_dir) -> StudioApp:
    return StudioApp(preset_name="tiny", corpus_text=studio_corpus, checkpoints_dir=checkpoints_dir)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
def test_experiments_screen_layout(snap_compare, layout_app, size):
    assert snap_compare(layout_app, press=["5"], terminal_size=size)
