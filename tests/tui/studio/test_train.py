"""The Train screen: a tiny run in a child process, its plots, and pause/resume/stop/quit."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from core import PRESETS, RunState, is_checkpoint
from tui.studio.app import StudioApp
from tui.studio.messages import TrainState
from tui.studio.screens.train import TrainScreen
from tui.studio.widgets.common.bars import KeyBar
from tui.studio.widgets.common.plots import GradNormPlot, LearningRatePlot, LossPlot


def _train_screen(app) -> TrainScreen:
    return app.train_screen


async def test_training_run_plots_every_logged_step(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        steps = PRESETS["tiny"].max_steps
        assert train.finished.error is None
        assert train.query_one(LossPlot).losses.count == steps
        assert train.query_one(LossPlot).val_steps == [20, 40]
        assert train.query_one(GradNormPlot).norms.count == steps
        assert train.query_one(LearningRatePlot).rates.count == steps
        assert is_checkpoint(train.finished.checkpoint)
        # the figure comes from the builder thread: plotext's axes, not the placeholder
        loss_plot = train.query_one(LossPlot)
        await wait_until(
            pilot,
            lambda: (
                loss_plot.built_request is not None
                and loss_plot.built_request.version == loss_plot.data_version
            ),
        )
        assert "┤" in loss_plot.render().plain
        assert "ln(V=" in str(loss_plot.border_subtitle)


async def test_pause_save_copy_resume_and_stop_training(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        train.set_steps(100000)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        await pilot.press("p")
        await wait_until(pilot, lambda: train.state is TrainState.PAUSED)
        paused_at = train.last.step
        await pilot.press("s")  # saving works while paused, between two steps
        await wait_until(pilot, lambda: train.last_checkpoint is not None)
        assert is_checkpoint(train.last_checkpoint)
        assert train.last.step <= paused_at + 1  # at most the step that was running

        await pilot.press("w")  # a copy of the weights for Generate and Chat
        await wait_until(pilot, lambda: tiny_app.weights_source.snapshot is not None)
        assert tiny_app.weights_source.label.startswith("training weights at step")
        await pilot.press("2")
        generate = tiny_app.screen
        await wait_until(pilot, lambda: generate.info is not None and generate.runner.idle)
        assert generate.info.label == tiny_app.weights_source.label
        await pilot.press("1")

        await pilot.press("p")
        await wait_until(pilot, lambda: train.last.step > paused_at + 2)
        await pilot.press("x")
        await wait_until(pilot, lambda: train.state is TrainState.FINISHED)
        assert train.finished.stopped
        assert train.finished.step < 100000
        assert is_checkpoint(train.finished.checkpoint)


async def test_quit_while_training_stops_and_saves_first(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        train.set_steps(100000)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        await pilot.press("q", "y")  # the studio asks first; y stops, saves, then quits
        assert tiny_app.is_running  # still waiting for the checkpoint
        await wait_until(pilot, lambda: train.finished is not None)
    assert train.finished.stopped
    assert is_checkpoint(train.finished.checkpoint)
    assert train.process.join(timeout=10)


async def test_a_run_left_training_when_the_app_ends_stops_and_saves(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        train.set_steps(100000)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        out_dir = train.process.out_dir
    # the app is gone but this process lives on: the child must not train on unwatched; read
    # its last events as the studio's own shutdown does, or a full pipe would hold it at exit
    assert train.process.drain_until_exit(30)
    assert is_checkpoint(out_dir)


async def test_bad_form_value_says_what_to_change(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        train.query_one("#learning-rate").value = "fast"
        await pilot.press("t")
        assert train.process is None
        assert "learning rate must be a number" in str(train.query_one("#form-error").render())


def test_every_state_the_child_reports_has_a_train_state():
    assert {state.name for state in RunState} <= {state.name for state in TrainState}


async def test_a_bad_corpus_is_refused_before_any_folder_or_process(tmp_path, checkpoints_dir):
    corpus = tmp_path / "cut.txt"
    corpus.write_bytes(("First Citizen:\n" * 40 + "voil\u00e0").encode()[:-1])  # cut mid-character
    app = StudioApp(
        preset_name="tiny", corpus_path=str(corpus), checkpoints_dir=checkpoints_dir, threads=1
    )
    async with app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(app)
        await pilot.press("t")
        assert train.process is None
        assert "is not UTF-8 text" in str(train.query_one("#form-error").render())
    assert list(checkpoints_dir.iterdir()) == []


async def test_keys_buttons_and_form_follow_the_run_to_resume(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        keys = train.query_one(KeyBar)
        train.set_steps(100000)
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None)
        await pilot.press("p")
        await wait_until(pilot, lambda: train.state is TrainState.PAUSED)
        await pilot.pause()
        assert any("Continue" in item for item in keys.items)
        assert str(train.query_one("#pause", Button).label) == "Continue (p)"
        await pilot.press("x")
        await wait_until(pilot, lambda: train.state is TrainState.FINISHED)
        await pilot.pause()
        assert any("Resume" in item for item in keys.items)  # t resumes the stopped run
        assert str(train.query_one("#start", Button).label) == "Resume (t)"
        train.set_steps(7)  # the form's value is not the resumed run's
        await pilot.press("t")
        await pilot.pause()
        assert train.query_one("#steps", Input).value == "100000"  # the run's own steps
        await pilot.press("x")
        await wait_until(pilot, lambda: train.state is TrainState.FINISHED)


async def test_values_past_their_bounds_are_said_in_the_form(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        for field, value, said in (
            ("#steps", str(10**13), "max_steps must be an integer from 1 to"),
            ("#grad-clip", "nan", "grad_clip must be a number in"),
            ("#seed", "-5", "seed must be an integer from 0"),
        ):
            train.set_steps(40)
            train.query_one(field).value = value
            await pilot.press("t")
            assert train.process is None  # nothing started, no folder made
            assert said in str(train.query_one("#form-error").render())
            train.query_one(field).value = "1" if field != "#steps" else "40"


async def test_the_form_shows_a_steps_memory_and_refuses_one_that_cannot_fit(
    tiny_app, checkpoints_dir
):
    from core import available_memory

    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = _train_screen(tiny_app)
        await pilot.pause()
        shape = str(train.query_one("#form-shape").render())
        assert "a step needs ≈" in shape and "free" in shape
        train.query_one("#preset").value = "small"
        await pilot.pause()
        train.set_steps(40)
        train.query_one("#batch-size").value = "65536"  # the most the bounds allow: ~300 GB
        await pilot.pause()
        huge = str(train.query_one("#form-shape").render())
        if available_memory() is not None and "lower the batch size" not in huge:
            pytest.skip("this machine has the memory for a step of 65,536 small sequences")
        assert "lower the batch size" in huge
        await pilot.press("t")
        assert train.process is None
        assert "needs about" in str(train.query_one("#form-error").render())
    assert list(checkpoints_dir.iterdir()) == []


async def test_the_form_sets_every_setting_of_the_run_it_starts(tiny_app, wait_until):
    from tui.studio.widgets.train.run_form import FIELDS

    assert {field.field for field in FIELDS} >= {
        "num_layers", "num_heads", "embedding_dim", "ffn_dim", "block_size", "dropout",
        "max_steps", "batch_size", "learning_rate", "warmup_steps", "eval_interval",
        "grad_clip", "optimizer", "seed", "keep_best", "early_stop", "tokenizer",
        "bpe_vocab_size", "precision",
    }  # fmt: skip
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        train = _train_screen(tiny_app)
        fields = train.query_one("#form-fields")
        assert fields.max_scroll_y > 0  # short: the form scrolls, no field is dropped
        values = {
            "#num-layers": "1", "#num-heads": "1", "#embedding-dim": "16", "#ffn-dim": "24",
            "#block-size": "8", "#steps": "4", "#eval-interval": "2", "#warmup-steps": "1",
            "#threads": "1",
        }  # fmt: skip
        for selector, value in values.items():
            train.query_one(selector).value = value
        train.query_one("#keep-best").value = True
        train.query_one("#optimizer").value = "sgd"
        await pilot.press("t")
        await wait_until(pilot, lambda: train.started is not None, timeout=60)
        config = train.started.config
        assert (config.num_layers, config.num_heads, config.embedding_dim) == (1, 1, 16)
        assert (config.ffn_dim, config.block_size, config.max_steps) == (24, 8, 4)
        assert config.keep_best and config.optimizer == "sgd" and train.started.threads == 1
        await wait_until(pilot, lambda: train.done, timeout=60)
        assert (train.process.out_dir / "best" / "checkpoint.json").is_file()
        train.query_one("#ffn-dim").value = "wide"
        await pilot.press("n")
        assert "FFN width must be a whole number (or blank)" in str(
            train.query_one("#form-error").render()
        )
