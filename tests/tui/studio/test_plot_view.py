"""The plots' view: a log y axis with round ticks, and the window of the last N steps."""

from __future__ import annotations

import pytest

from tui.studio.widgets.common.plot_view import WINDOWS, PlotView, log_ticks


def test_log_ticks_are_round_values_inside_the_range():
    assert log_ticks(0.05, 30.0, 5) == [0.05, 0.2, 1.0, 5.0, 20.0]
    assert log_ticks(0.3, 4.0, 5) == [0.5, 1.0, 2.0]


def test_log_ticks_of_a_narrow_range_use_every_digit_or_even_steps():
    assert log_ticks(1.6, 4.4, 5) == [2.0, 3.0, 4.0]
    ticks = log_ticks(2.61, 2.69, 3)
    assert ticks[0] == pytest.approx(2.61) and ticks[-1] == pytest.approx(2.69)


def test_log_ticks_refuse_a_range_that_is_not_positive():
    with pytest.raises(ValueError, match="0 < low < high"):
        log_ticks(0.0, 1.0, 5)


def test_window_cycles_through_the_widths_and_back_to_the_whole_run():
    view = PlotView()
    seen = [view.cycle_window() for _ in WINDOWS]
    assert seen == [2000, 500, 100, None]


def test_window_starts_n_steps_before_the_last_but_never_before_step_one():
    view = PlotView()
    assert view.since(3000) is None
    view.window = 500
    assert view.since(3000) == 2501
    assert view.since(40) == 1


def test_description_names_log_y_the_window_and_the_values_left_out():
    view = PlotView()
    assert view.describe() == ""
    view.log_y, view.window = True, 500
    assert view.describe() == "log y · last 500 steps"
    assert view.describe(not_drawn=3) == "log y (3 values ≤ 0 left out) · last 500 steps"
    assert view.describe(short=True) == "log · last 500"
