"""Plot series: bounded memory on long runs, spikes kept, every point counted."""

from __future__ import annotations

import math

import pytest

from tui.studio.series import Series, Smoother


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
