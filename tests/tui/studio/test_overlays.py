"""Past runs drawn over the loss plot: their colours, their own x positions, their windows, and
which of them compare with the plotted run."""

from __future__ import annotations

import pytest

from tui.studio.overlays import MAX_OVERLAYS, OverlayRun, Overlays, incomparable


def _run(name: str, steps: int = 10, **settings) -> OverlayRun:
    values = {
        "steps": tuple(range(1, steps + 1)),
        "losses": tuple(4.0 - step / 10 for step in range(1, steps + 1)),
        "val_steps": (steps // 2, steps),
        "val_losses": (3.5, 3.2),
        "elapsed": tuple(step * 0.5 for step in range(1, steps + 1)),
        "tokens_per_step": 128,
    } | settings
    return OverlayRun(key=f"/runs/{name}\n{name}", label=name, **values)


def test_each_overlay_gets_a_colour_of_its_own_and_a_freed_one_is_reused():
    overlays = Overlays()
    drawn = [overlays.add(_run(f"r{i}")) for i in range(MAX_OVERLAYS)]
    assert len({overlay.color for overlay in drawn}) == MAX_OVERLAYS
    with pytest.raises(ValueError, match="drawn already"):
        overlays.add(_run("one too many"))
    freed = overlays.remove(drawn[2].run.key)
    assert overlays.add(_run("again")).color == freed.color


def test_vocabulary_or_corpus_that_differs_is_not_comparable():
    run = _run("bpe", vocab_size=300, corpus="aaa")
    assert incomparable(run, 300, "aaa") is None
    assert incomparable(run, 84, "aaa") == "V=300, not 84: not comparable"
    assert incomparable(run, 300, "bbb") == "another corpus: not comparable"
    assert incomparable(run, None, None) is None  # nothing to compare with: no verdict


def test_overlay_sits_on_its_own_tokens_and_clock_not_the_plotted_runs():
    overlay = Overlays().add(_run("a", tokens_per_step=64))
    xs, val_xs = overlay.positions("tokens")
    assert xs[:2] == [64, 128] and val_xs == [5 * 64, 10 * 64]
    xs, val_xs = overlay.positions("time")
    assert xs[:2] == [0.5, 1.0] and val_xs == [2.5, 5.0]


def test_overlay_without_a_clock_has_no_place_on_a_time_axis():
    overlay = Overlays().add(_run("race variant", elapsed=()))
    assert overlay.positions("time") is None
    assert overlay.curve("time", 0, 10, 80) is None
    assert overlay.positions("steps") is not None


def test_overlay_curve_in_a_window_holds_only_its_points_inside():
    overlays = Overlays()
    overlays.smoothing = 0.0  # raw: each column's mean is the loss itself
    overlay = overlays.add(_run("a", steps=100))
    curve = overlay.curve("steps", 91, 100, width=80)
    assert curve.line.xs == tuple(float(step) for step in range(91, 101))
    assert curve.line.means[0] == pytest.approx(4.0 - 9.1)
    assert curve.val_xs == (100.0,)


def test_overlays_follow_the_plots_smoothing_weight():
    overlays = Overlays()
    overlay = overlays.add(_run("a", losses=(4.0,) + (1.0,) * 9))
    smoothed_last = overlay.state[0][-1]
    overlays.set_smoothing(0.0)
    assert overlay.state[0][-1] == 1.0 and smoothed_last > 1.0


def test_window_without_a_plotted_run_ends_at_the_longest_overlay():
    overlays = Overlays()
    overlays.add(_run("short", steps=200))
    overlays.add(_run("long", steps=300))
    assert overlays.extent("steps", None) == (1.0, 300.0)
    assert overlays.extent("steps", 100) == (201.0, 300.0)
