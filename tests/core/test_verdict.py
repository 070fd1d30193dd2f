"""A race's verdict comes from its numbers: a gap outside the seed noise, or none at this size."""

from __future__ import annotations

import math

import pytest

from core.verdict import (
    AHEAD,
    BEHIND,
    DIVERGED,
    SAME,
    Check,
    band,
    lesson_agrees,
    race_verdicts,
    verdict,
)

STEPS = [0, 10, 20, 30]


def test_a_gap_wider_than_the_seed_noise_is_behind_from_the_step_it_opened() -> None:
    reference = [[4.0, 3.0, 2.60, 2.50], [4.0, 3.0, 2.70, 2.60]]
    arm = [[4.0, 3.0, 2.80, 2.70], [4.0, 3.0, 2.90, 2.82]]  # gaps 0.20 and 0.22
    result = verdict("no-scale", "baseline", STEPS, arm, reference)
    assert result.outcome == BEHIND
    assert result.margin == pytest.approx(0.21)
    assert result.noise == pytest.approx(0.01)  # the seeds agree on the gap to ±0.01
    assert result.since_step == 20
    assert "0.21 nats behind baseline from step 20 on" in result.line()
    assert result.agrees(BEHIND) and not result.agrees(AHEAD)


def test_a_gap_the_seeds_disagree_on_is_no_difference() -> None:
    reference = [[4.0, 2.50], [4.0, 2.70]]
    arm = [[4.0, 2.60], [4.0, 2.68]]  # gaps +0.10 and -0.02: noise 0.06 around +0.04
    result = verdict("one-head", "baseline", [0, 10], arm, reference)
    assert result.outcome == SAME and result.since_step is None
    assert "no difference at this size (within noise" in result.line()
    assert not result.agrees(BEHIND)


def test_a_tiny_gap_between_quiet_seeds_still_counts_as_no_difference() -> None:
    reference = [[2.500], [2.601]]
    arm = [[2.520], [2.621]]  # the seeds agree, on a gap below the smallest that teaches
    assert verdict("a", "b", [5], arm, reference).outcome == SAME


def test_a_lower_loss_is_ahead() -> None:
    result = verdict("wide", "baseline", [0, 10], [[4, 2.0], [4, 2.02]], [[4, 2.5], [4, 2.52]])
    assert result.outcome == AHEAD and result.margin == pytest.approx(-0.5)
    assert "ahead of baseline" in result.line() and result.agrees(AHEAD)


def test_a_gap_that_closes_again_counts_only_from_where_it_stays_open() -> None:
    reference = [[4, 3.0, 2.8, 2.6]]
    arm = [[4, 3.5, 2.8, 2.9]]
    assert verdict("a", "b", STEPS, arm, reference).since_step == 30


def test_a_diverged_arm_is_behind_for_the_lesson() -> None:
    result = verdict("no-clip", "baseline", [0, 10], [[4, math.nan]], [[4, 2.5]])
    assert result.outcome == DIVERGED and result.agrees(BEHIND)
    assert "diverged" in result.line()


def test_band_spans_the_seeds_and_a_non_finite_seed_spoils_it() -> None:
    assert band([1.0, 2.0, 3.0]) == band([3.0, 1.0, 2.0])
    assert band([1.0, 3.0]).noise == 1.0
    assert math.isnan(band([1.0, math.inf]).mean)


def _variant(name: str, runs: list[list[float]], tokenizer: str = "char") -> dict:
    return {
        "name": name,
        "curve": [{"step": s} for s in STEPS[: len(runs[0])]],
        "seed_curves": runs,
        "seed_bpc": [[v * 2 for v in run] for run in runs],
        "settings": {"tokenizer": tokenizer},
    }


def test_race_verdicts_show_the_lesson_only_where_the_numbers_agree() -> None:
    variants = [
        _variant("baseline", [[4, 2.5], [4, 2.51]]),
        _variant("slow", [[4, 2.9], [4, 2.91]]),
        _variant("same", [[4, 2.5], [4, 2.5]]),
    ]
    checks = [Check("slow", "baseline", BEHIND, "why slow"), Check("same", "baseline", BEHIND, "x")]
    slow, same = race_verdicts(variants, checks)
    assert slow["agrees"] and slow["lesson"] == "why slow" and slow["unit"] == "nats"
    assert not same["agrees"] and same["lesson"] == ""


def test_race_verdicts_compare_another_tokenizer_in_bits_per_character() -> None:
    variants = [_variant("baseline", [[4, 2.5]]), _variant("bpe", [[4, 2.0]], "bpe")]
    (result,) = race_verdicts(variants, [Check("bpe", "baseline", None, "")])
    assert result["unit"] == "bits/char" and result["margin"] == pytest.approx(-1.0)
    assert not result["agrees"]  # no expectation: nothing to agree with


def test_a_lesson_agrees_when_every_predicted_verdict_does() -> None:
    predicted = {"expect": BEHIND, "agrees": True}
    compared_only = {"expect": None, "agrees": False}  # kept for comparison: never counts
    assert lesson_agrees([predicted, compared_only])
    assert not lesson_agrees([predicted, {"expect": BEHIND, "agrees": False}])
    assert not lesson_agrees([compared_only])
