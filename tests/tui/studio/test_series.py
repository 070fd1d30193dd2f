"""Plot series: bounded memory on long runs, spikes kept, every point counted."""

from __future__ import annotations

import math

import pytest

from tui.studio.series import Series, Smoother, reduce_points


def test_series_counts_every_point_but_keeps_at_most_capacity_buckets():
    series = Series(capacity=64)
    for step in range(1, 10_001):
        series.append(step, 1.0)
    assert series.count == 10_000
    assert len(series._buckets) <= 64
    envelope = series.envelope(width=40)
    assert len(envelope.xs) <= 40
    assert envelope.xs[0] < 200 and envelope.xs[-1] > 9_800


def test_series_envelope_keeps_a_single_spike():
    series = Series(capacity=32)
    for step in range(1, 5_001):
        series.append(step, 100.0 if step == 2_345 else 1.0)
    envelope = series.envelope(width=10)
    assert max(envelope.highs) == 100.0
    assert min(envelope.lows) == 1.0
    assert max(envelope.means) < 100.0


def test_series_counts_marked_points_per_column():
    series = Series(capacity=16)
    for step in range(100):
        series.append(step, 1.0, mark=step % 10 == 0)
    assert sum(series.envelope(width=5).marks) == 10


def test_series_skips_non_finite_values():
    series = Series(capacity=4)
    series.append(1, math.nan)
    series.append(2, math.inf)
    assert series.count == 0


def test_series_capacity_must_be_even():
    with pytest.raises(ValueError, match="even"):
        Series(capacity=3)


def test_smoother_starts_at_the_first_value_without_bias():
    smoother = Smoother(0.9)
    assert smoother.update(4.0) == pytest.approx(4.0)
    for _ in range(200):
        smoother.update(2.0)
    assert smoother.value == pytest.approx(2.0, abs=1e-6)


def test_window_from_the_raw_tail_leaves_out_a_spike_just_before_its_first_step():
    series = Series(capacity=8, tail=64)  # buckets of 128 points by step 1000
    for step in range(1, 1001):
        series.append(step, 50.0 if step == 950 else 1.0 + step / 1000)
    window = series.envelope(width=10, since=951)
    assert min(window.xs) >= 951 and max(window.highs) == 2.0
    assert min(window.lows) == pytest.approx(1.951)  # each column exact: its own points only
    assert max(series.envelope(width=10).highs) == 50.0  # the whole run keeps the spike


def test_window_beyond_the_tail_uses_no_bucket_that_straddles_its_edge():
    series = Series(capacity=8)  # no tail: buckets of 128 points, 897-1000 the last
    for step in range(1, 1001):
        series.append(step, 50.0 if step == 940 else 1.0)
    window = series.envelope(width=10, since=951)
    assert window.xs == () or min(window.xs) >= 951  # starts late rather than mixing in 940
    assert 50.0 not in window.highs
    wider = series.envelope(width=10, since=897)
    assert max(wider.highs) == 50.0 and min(wider.xs) >= 897


def test_envelope_counts_points_at_or_below_zero_whole_and_windowed():
    series = Series(capacity=4, tail=16)
    for step in range(1, 101):
        series.append(step, 0.0 if step in (10, 95) else -1.0 if step == 99 else 1.0)
    assert series.envelope(width=5).nonpositive == 3
    assert series.envelope(width=5, since=90).nonpositive == 2


def test_reduce_points_makes_exact_columns_of_consecutive_points():
    envelope = reduce_points(
        [1, 2, 3, 4, 5], [4.0, 2.0, 6.0, 1.0, 3.0], width=2, marks=[1, 0, 1, 0, 0]
    )
    assert envelope.xs == (2.0, 4.5)
    assert envelope.means == (4.0, 2.0)
    assert envelope.lows == (2.0, 1.0) and envelope.highs == (6.0, 3.0)
    assert envelope.marks == (2, 0)
