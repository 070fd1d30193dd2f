"""The Training X-ray on the Train screen: one heat-map column per evaluation of a tiny run."""

from __future__ import annotations

from textual.widgets import Static

from core import PRESETS
from tui.studio.widgets.train.training_xray import TrainingXrayView


async def test_training_fills_one_heat_map_column_per_evaluation(tiny_app, wait_until):
    config = PRESETS["tiny"]
    evaluations = config.max_steps // config.eval_interval
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        assert train.finished.error is None
        view = train.query_one(TrainingXrayView)
        assert [step for step, _, _ in view.columns] == [20, 40]
        assert all(len(norms) == config.num_layers for _, _, norms in view.columns)

        await pilot.press("v")
        await pilot.pause()
        assert view.display and not train.query_one("#train-plots").display
        assert train.focused is view
        lines = view.query_one(Static).render().plain.splitlines()
        rows = [line for line in lines if line.startswith(("L0 ", "L1 "))]
        assert len(rows[0].rstrip()) - 5 == evaluations  # the heat map's first row
        assert f"step 40 (eval {evaluations}/{evaluations}" in "\n".join(lines)


async def test_xray_keys_step_back_through_evaluations(tiny_app, wait_until):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        await pilot.press("v")
        await pilot.pause()
        view = train.query_one(TrainingXrayView)
        await pilot.press("left")
        assert "step 20 (eval 1/2" in view.query_one(Static).render().plain
        await pilot.press("l", "h")
        assert (view.xray_layer, view.xray_head) == (1, 1)
        assert "layer 1 head 1" in view.query_one(Static).render().plain
        await pilot.press("v")
        await pilot.pause()
        assert not view.display and train.query_one("#train-plots").display


async def test_a_new_run_starts_the_xray_empty_and_names_its_run(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        view = train.query_one(TrainingXrayView)
        first = train.process.out_dir.name
        assert view.columns and first in view.border_title
        await pilot.press("n")  # a new run: nothing of the first may show until it evaluates
        await pilot.pause()
        second = train.process.out_dir.name
        assert second != first and second in view.border_title
        assert view.columns == [] and view.latest is None
        await wait_until(pilot, lambda: train.done)
        assert [step for step, _, _ in view.columns] == [20, 40]
