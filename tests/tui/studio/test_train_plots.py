"""The Train screen's plots and status: axis labels, current values, the learning-rate window,
the clip line, the samples' labels, the status after a run and the notices of idle keys."""

from __future__ import annotations

from dataclasses import replace

from core import PRESETS, StepMetrics, learning_rate_at
from tui.studio.screens.train import TrainScreen
from tui.studio.widgets.common.plots import GradNormPlot, LearningRatePlot, LossPlot
from tui.studio.widgets.train.sample_log import SampleLog
from tui.studio.widgets.train.training import StatusBar
from tui.studio.widgets.train.training_plots import TrainingPlots

CONFIG = replace(PRESETS["tiny"], max_steps=2000)
LONG_SAMPLE = "\n".join(f"line {i} of a sample longer than the log is tall" for i in range(40))


def _metrics(step: int, sample: str = "a sample") -> StepMetrics:
    evaluating = step % CONFIG.eval_interval == 0
    return StepMetrics(
        step=step,
        max_steps=CONFIG.max_steps,
        loss=3.0 - step / 1000,
        grad_norm=0.5 + (step % 7) / 10,
        lr=learning_rate_at(step - 1, CONFIG),
        tokens_per_second=1000.0,
        elapsed=step / 10,
        clipped=False,
        val_loss=3.1 - step / 1000 if evaluating else None,
        sample=sample if evaluating else None,
    )


async def _progress(pilot, train: TrainScreen, steps: range, sample: str = "a sample") -> None:
    """Steps as the training child would send them, without a child: the plots are the same."""
    train.query_one(TrainingPlots).reset(CONFIG, vocab_size=60)
    train.post_message(TrainScreen.Progress(tuple(_metrics(s, sample) for s in steps)))
    await pilot.pause()


async def _built(pilot, wait_until, *plots) -> None:
    """Until each plot shows a figure of its latest data."""
    await wait_until(
        pilot,
        lambda: all(
            plot.built_request is not None and plot.built_request.version == plot.data_version
            for plot in plots
        ),
    )


async def test_axis_key_switches_every_plot_between_steps_tokens_and_time(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await _progress(pilot, train, range(1, 101))
        plots = train.query_one(TrainingPlots).plots()
        await _built(pilot, wait_until, *plots)
        assert all("step" in plot.render().plain for plot in plots)
        await pilot.press("a")
        await _built(pilot, wait_until, *plots)
        assert all("tokens seen" in plot.render().plain for plot in plots)
        await pilot.press("a")
        await _built(pilot, wait_until, *plots)
        assert all("training time" in plot.render().plain for plot in plots)


async def test_plot_titles_show_the_latest_values(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await _progress(pilot, train, range(1, 41))
        loss, grad, rate = train.query_one(TrainingPlots).plots()
        await _built(pilot, wait_until, loss, grad, rate)
        last = _metrics(40)
        assert f"val {last.val_loss:.3f} @ step 40" in str(loss.border_title)
        assert "train " in str(loss.border_title)
        assert f"Grad norm {last.grad_norm:.3g} (clip 1) @ step 40" in str(grad.border_title)
        assert f"Learning rate {last.lr:.2e} @ step 40" in str(rate.border_title)


async def test_learning_rate_plot_shows_a_window_around_now(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await _progress(pilot, train, range(1, 1001))
        rate = train.query_one(LearningRatePlot)
        low, high = rate.window()
        assert low < 1000 < high
        assert high - low + 1 < CONFIG.max_steps // 4  # a window, not the whole plan
        await _built(pilot, wait_until, rate)
        assert "now" in str(rate.border_subtitle) and f"{low}-{high}" in str(rate.border_subtitle)


async def test_clip_line_follows_the_form_before_a_run(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        grad = train.query_one(GradNormPlot)
        assert grad.clip == PRESETS["tiny"].grad_clip
        train.query_one("#grad-clip").value = "0.25"
        await pilot.pause()
        assert grad.clip == 0.25
        assert "clip 0.25" in str(grad.border_subtitle) and "clip 0.25" in str(grad.border_title)


async def test_sample_label_stays_on_screen_with_a_long_sample(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("f")  # the plots take the whole width, as while a narrow run trains
        await _progress(pilot, train, range(1, 41), sample=LONG_SAMPLE)
        await pilot.pause()
        log = train.query_one(SampleLog)
        top = round(log.scroll_y)
        shown = [
            strip.text for strip in log.lines[top : top + log.scrollable_content_region.height]
        ]
        assert any("step 40 · val loss" in line for line in shown)
        assert any("line 0 of a sample" in line for line in shown)


async def test_pause_with_nothing_training_says_so_in_the_status_bar(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("p")
        notice = train.query_one(StatusBar).notice_text
        assert notice is not None and "Nothing to pause" in notice.plain
        assert not tiny_app.screen.query("Toast")  # no toast over the plots


async def test_finished_run_shows_total_time_and_no_eta(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        assert not any("Press t" in str(entry) for entry in train.query_one(SampleLog).entries)
        await wait_until(pilot, lambda: train.done)
        await pilot.pause()
        status = str(train.query_one(StatusBar).render())
        assert "finished" in status and "total" in status and "tok/s" in status
        assert "ETA" not in status
        assert train.query_one(LossPlot).losses.count == PRESETS["tiny"].max_steps


async def test_status_and_loss_title_show_the_same_smoothed_loss_and_m_changes_it(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.screen
        await _progress(pilot, train, range(1, 41))
        plot = train.query_one(LossPlot)

        def shown() -> tuple[str, str]:
            return str(train.query_one(StatusBar).render()), plot.headings()[0]

        status, title = shown()
        value = f"{plot.smoothed_loss:.3f}"
        assert f"loss {value} (smoothed 0.95)" in status and f"train {value} (smoothed" in title
        await pilot.press("m")  # 0.99
        assert plot.smoothing == 0.99
        await pilot.press("m")  # raw: the last step's own loss
        status, title = shown()
        raw = f"{_metrics(40).loss:.3f}"
        assert plot.smoothing == 0.0 and f"loss {raw}" in status and f"train {raw} (raw)" in title


async def test_a_new_run_shows_empty_plots_not_the_last_runs_curves(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.screen
        await _progress(pilot, train, range(1, 41))
        plots = train.query_one(TrainingPlots)
        loss = train.query_one(LossPlot)
        await pilot.pause(0.5)  # the figures are built on their own thread
        assert loss._figure_text is not None
        plots.reset(CONFIG, vocab_size=60)  # a new run, before its first step
        await pilot.pause()
        for plot in plots.plots():
            assert plot._figure_text is None  # the placeholder, not the run before
        assert "train" not in loss.headings()[0]
