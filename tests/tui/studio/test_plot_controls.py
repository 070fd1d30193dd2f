"""The Train plots' controls: a log y axis, the window of the last N steps, past runs overlaid
and kept across a new run, and the keys that say what each does now."""

from __future__ import annotations

from dataclasses import replace

from core import PRESETS, StepMetrics, TrainingStarted, learning_rate_at
from tui.studio.overlays import OverlayRun
from tui.studio.screens.train import TrainScreen
from tui.studio.widgets.common.bars import FitLine, KeyBar
from tui.studio.widgets.common.plots import GradNormPlot, LossPlot
from tui.studio.widgets.train.training_plots import TrainingPlots

CONFIG = replace(PRESETS["tiny"], max_steps=4000, eval_interval=500)
SPIKE_STEP, SPIKE = 2400, 40.0  # a grad-norm spike before the last 500 of 3000 steps


def _metrics(step: int, grad_norm: float | None = None) -> StepMetrics:
    return StepMetrics(
        step=step,
        max_steps=CONFIG.max_steps,
        loss=3.0 - step / 2000,
        grad_norm=grad_norm if grad_norm is not None else 0.5 + (step % 7) / 10,
        lr=learning_rate_at(step - 1, CONFIG),
        tokens_per_second=1000.0,
        elapsed=step / 10,
        val_loss=3.1 - step / 2000 if step % CONFIG.eval_interval == 0 else None,
    )


async def _progress(pilot, steps, norms: dict[int, float] | None = None) -> TrainScreen:
    """Steps as the training child sends them, without a child: the plots are the same."""
    train = pilot.app.train_screen
    train.query_one(TrainingPlots).reset(CONFIG, vocab_size=60)
    events = tuple(_metrics(step, (norms or {}).get(step)) for step in steps)
    train.post_message(TrainScreen.Progress(events))
    await pilot.pause()
    return train


async def _built(pilot, wait_until, *plots) -> None:
    await wait_until(
        pilot,
        lambda: all(
            plot.built_request is not None and plot.built_request.version == plot.data_version
            for plot in plots
        ),
    )


def _y_labels(plot) -> list[str]:
    """The figure's y tick labels: what stands left of a tick on the axis line (┤, or ├ where
    a reference line starts)."""
    labels = []
    for line in plot.render().plain.splitlines():
        ticks = [line.find(mark) for mark in "┤├" if mark in line]
        if ticks and line[: min(ticks)].strip():
            labels.append(line[: min(ticks)].strip())
    return labels


def _overlay(name: str, steps: int = 300, vocab_size: int = 60) -> OverlayRun:
    return OverlayRun(
        key=f"/runs/{name}\n{name}",
        label=name,
        steps=tuple(range(1, steps + 1)),
        losses=tuple(3.5 - step / 1000 for step in range(1, steps + 1)),
        elapsed=tuple(step / 5 for step in range(1, steps + 1)),
        tokens_per_step=128,
        vocab_size=vocab_size,
    )


async def test_y_key_puts_loss_and_grad_norm_on_a_log_axis_and_their_titles_say_so(
    tiny_app, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _progress(pilot, range(1, 201))
        loss, grad = train.query_one(LossPlot), train.query_one(GradNormPlot)
        await _built(pilot, wait_until, grad)
        assert "0" in _y_labels(grad)  # linear, from zero
        assert "y Log y" in str(train.query_one(KeyBar).render())
        await pilot.press("y")
        await _built(pilot, wait_until, loss, grad)
        assert str(loss.border_title).endswith("· log y")
        assert str(grad.border_title).endswith("· log y")
        labels = _y_labels(grad)
        assert "0" not in labels and "1" in labels and len(labels) >= 2  # the clip at 1
        assert "y Linear y" in str(train.query_one(KeyBar).render())
        await pilot.press("y")
        assert "log" not in str(loss.border_title)


async def test_log_axis_leaves_out_values_at_or_below_zero_and_counts_them(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _progress(pilot, range(1, 101), norms={10: 0.0, 20: 0.0})
        grad = train.query_one(GradNormPlot)
        await pilot.press("y")
        await _built(pilot, wait_until, grad)
        assert "log y (2 values ≤ 0 left out)" in str(grad.border_title)


async def test_z_key_windows_the_last_steps_and_the_titles_and_ticks_follow(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _progress(pilot, range(1, 3001))
        loss, grad = train.query_one(LossPlot), train.query_one(GradNormPlot)
        assert "z Last 2000" in str(train.query_one(KeyBar).render())
        await pilot.press("z", "z")  # the last 2000, then the last 500 steps
        await _built(pilot, wait_until, loss, grad)
        assert "last 500 steps" in str(loss.border_title)
        assert "last 500 steps" in str(grad.border_title)
        assert "2501" in loss.render().plain and "2501" in grad.render().plain  # first tick
        assert "z Last 100" in str(train.query_one(KeyBar).render())


async def test_window_leaves_out_a_spike_from_before_its_first_step(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _progress(pilot, range(1, 3001), norms={SPIKE_STEP: SPIKE})
        grad = train.query_one(GradNormPlot)
        await _built(pilot, wait_until, grad)
        assert f"{SPIKE * 1.1:.2g}" in _y_labels(grad)  # the whole run: up to the spike
        await pilot.press("z", "z")  # steps 2501-3000
        await _built(pilot, wait_until, grad)
        assert max(float(label) for label in _y_labels(grad)) < 2


async def test_overlays_stay_when_a_run_starts_and_are_judged_against_it(
    tiny_app, wait_until, tmp_path
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        plots = train.query_one(TrainingPlots)
        plots.toggle_overlay(_overlay("a"))
        plots.toggle_overlay(_overlay("b"))
        started = TrainingStarted(
            config=CONFIG,
            vocab_size=300,  # a BPE run: the char runs' nats are another yardstick
            num_parameters=1,
            device="cpu",
            threads=1,
            step=0,
            out_dir=str(tmp_path / "new"),
            log_path=str(tmp_path / "new.log"),
            pid=1,
        )
        train.post_message(TrainScreen.Progress((started, _metrics(1))))
        await pilot.pause()
        legend = str(train.query_one("#overlay-legend", FitLine).render())
        assert len(plots.overlays) == 2 and "kept when a run starts" in legend
        assert "a (V=60, not 300: not comparable)" in legend
        assert "b (V=60, not 300: not comparable)" in legend
        loss = train.query_one(LossPlot)
        await _built(pilot, wait_until, loss)
        assert loss._figure_text is not None  # the run and its overlays, not the placeholder


async def test_o_clears_the_overlays_and_the_key_shows_only_while_there_are_some(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        plots = train.query_one(TrainingPlots)
        bar = train.query_one(KeyBar)
        assert "Clear overlays" not in str(bar.render())
        plots.toggle_overlay(_overlay("a"))
        bar.show_keys()
        await pilot.pause()
        assert "o Clear overlays" in str(bar.render())
        assert train.query_one("#overlay-legend").display
        await pilot.press("o")
        assert len(plots.overlays) == 0
        assert not train.query_one("#overlay-legend").display
        assert "Clear overlays" not in str(bar.render())


async def test_train_key_bar_keeps_every_plot_key_in_two_lines_at_80x24(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = str(tiny_app.train_screen.query_one(KeyBar).render())
        lines = footer.splitlines()
        assert len(lines) == 2 and all(len(line) <= 78 for line in lines)
        for key in ("a x axis", "m Smooth", "y Log y", "z Last 2000"):
            assert key in footer


async def test_a_race_variant_overlays_its_evaluations_and_says_why_not_on_a_time_axis(
    tiny_app, wait_until
):
    variant = OverlayRun(
        key="/races/r\nno-mask",
        label="r/no-mask",
        steps=(),
        losses=(),
        val_steps=(50, 100),
        val_losses=(3.0, 2.5),
        tokens_per_step=128,
    )
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        plots = train.query_one(TrainingPlots)
        plots.toggle_overlay(variant)
        loss = train.query_one(LossPlot)
        await _built(pilot, wait_until, loss)
        assert "○" in loss.render().plain  # its evaluations, with no training curve
        await pilot.press("a", "a")  # tokens, then time
        legend = str(train.query_one("#overlay-legend", FitLine).render())
        assert "r/no-mask (it logged no clock: not on a time axis)" in legend
        await _built(pilot, wait_until, loss)
        assert "○" not in loss.render().plain


async def test_overlay_line_takes_one_row_after_the_terminal_narrows(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        plots = tiny_app.train_screen.query_one(TrainingPlots)
        for name in ("a", "b", "c"):
            plots.toggle_overlay(_overlay(name))
        plots.toggle_overlay(_overlay("bpe", vocab_size=300))
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        line = tiny_app.train_screen.query_one("#overlay-legend", FitLine)
        assert str(line.render()) == "overlays ⣿ a  ⣿ b  ⣿ c  ⣿ bpe (not comparable)"
        assert line.region.height == 1  # measured again for the version that fits
