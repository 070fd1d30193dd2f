"""Scenarios build valid races; a seeded race reports its band, verdicts and instruments."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from core import PRESETS, UserError
from core.experiments import race
from core.instruments import STEP_SIZE_EDGES, Spike
from core.race_plan import run_plan, scenario_plan, variants_plan
from core.scenarios import PAIRS, SCENARIOS, scenario_names
from core.synthetic import PAIR_LETTERS, PAIR_NAMES, ordered_pairs_corpus, pairs_corpus
from core.variants import VARIANTS, Arm

TINY = replace(PRESETS["tiny"], eval_batches=1, num_layers=2)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_builds_its_arms_and_checks_only_its_arms(name: str) -> None:
    scenario = SCENARIOS[name]
    arms = {arm.name for arm in scenario.arms}
    assert len(arms) == len(scenario.arms)
    for arm in scenario.arms:
        arm.config(scenario.base)  # a bad combination raises here
    for check in scenario.checks:
        assert {check.arm, check.reference} <= arms and check.lesson
    assert any(check.expect for check in scenario.checks)  # a lesson the race can agree with


def test_every_variant_with_a_lesson_has_a_scenario() -> None:
    taught = {arm.variant for s in SCENARIOS.values() for arm in s.arms}
    expecting = {name for name, variant in VARIANTS.items() if variant.expect is not None}
    assert expecting <= taught


def test_unknown_scenario_is_one_line() -> None:
    with pytest.raises(UserError, match="unknown scenario 'nope'"):
        scenario_names("nope")
    assert scenario_names("all") == list(SCENARIOS)


def test_pairs_corpus_writes_every_letter_twice_and_is_the_same_for_a_seed() -> None:
    text = pairs_corpus(2000, seed=3)
    assert text == pairs_corpus(2000, seed=3) != pairs_corpus(2000, seed=4)
    for line in text.splitlines():
        assert all(line[i] == line[i + 1] for i in range(0, len(line), 2))


def test_ordered_pairs_name_each_ordered_pair_with_its_own_letter() -> None:
    units = ordered_pairs_corpus(2000).replace("\n", "")
    seen = {}
    for i in range(0, len(units), 4):
        pair, dash, name = units[i : i + 2], units[i + 2], units[i + 3]
        assert dash == "-" and seen.setdefault(pair, name) == name
    assert len(set(PAIR_NAMES)) == len(PAIR_LETTERS) ** 2
    assert seen["ab"] != seen["ba"]  # the order is the answer


def test_a_scenario_plan_takes_a_shape_change_and_its_own_data() -> None:
    plan = scenario_plan("no-position", seeds=3, steps=7, num_layers=2)
    assert plan.base.num_layers == 2 and plan.steps == 7 and plan.seeds == 3
    assert plan.data == PAIRS and plan.text("ignored") == pairs_corpus()
    assert scenario_plan("wide").text("x" * 10**6) == "x" * SCENARIOS["wide"].corpus_chars


def test_seeds_give_each_arm_a_band_around_its_mean(text) -> None:
    events = list(race(TINY, text, ["no-scale"], 6, evaluations=2, block_steps=3, seeds=2))
    progress = [e for e in events[:-1]]
    assert {(e.variant, e.seed) for e in progress} == {
        (name, seed) for name in ("baseline", "no-scale") for seed in (0, 1)
    }
    for result in events[-1]:
        assert result.seeds == 2 and len(result.seed_curves) == 2
        last = result.curve[-1]
        assert last.causal_low <= last.causal_val_loss <= last.causal_high
        assert result.causal_spread == pytest.approx((last.causal_high - last.causal_low) / 2)
    seeds = events[-1][0].seed_curves
    assert seeds[0] != seeds[1]  # another seed, another initialisation and data order


def test_an_arm_with_changes_and_scaled_steps_trains_its_own_config(text) -> None:
    arms = [Arm("adam"), Arm("sgd-fast", "sgd", (("learning_rate", 0.5),), steps_scale=2)]
    results = list(race(TINY, text, arms, 4, evaluations=2, block_steps=2))[-1]
    assert [r.name for r in results] == ["adam", "sgd-fast"]
    assert results[1].settings["lr"] == 0.5 and results[1].settings["optimizer"] == "sgd"
    assert [p.step for p in results[1].curve] == [0, 4, 8]


def test_instruments_measure_attention_gradient_flow_step_sizes_and_the_spike(text) -> None:
    instruments = ("attention", "grad-flow", "step-sizes", "spike")
    events = race(
        TINY, text, ["no-clip"], 4, block_steps=2, spike=Spike(2, 1e3), instruments=instruments
    )
    baseline, no_clip = list(events)[-1]
    measured = baseline.instruments
    assert len(measured["grad_flow"]) == TINY.num_layers
    assert len(measured["step_sizes"]) == len(STEP_SIZE_EDGES) - 1
    assert sum(measured["step_sizes"]) == pytest.approx(1.0)
    assert measured["attention_end"]["entropy_bits"] >= 0
    # the spike is in the pre-clip norm both runs report: clipping acts after it
    assert no_clip.instruments["spike_grad_norm"] > 100 * TINY.grad_clip


def test_a_diverged_arm_is_kept_with_a_nan_curve_not_raised(text) -> None:
    spike = Spike(2, 1e30)  # no weight survives this gradient unclipped
    results = list(race(replace(TINY, optimizer="sgd"), text, ["no-clip"], 4, spike=spike))[-1]
    baseline, no_clip = results
    assert math.isfinite(baseline.causal_val_loss)
    # step 2 computed its loss before the spiked update; step 3 is the first to pay for it
    assert no_clip.diverged_at == 3 and math.isnan(no_clip.causal_val_loss)


def test_a_plan_reports_its_verdicts(text) -> None:
    plan = variants_plan(TINY, ["mask-zero"], steps=4, seeds=2)
    report = list(run_plan(plan, text))[-1]
    (result,) = report["verdicts"]
    assert result["arm"] == "mask-zero" and result["seeds"] == 2 and result["line"]
    assert report["seeds"] == 2 and report["seconds"] > 0


def test_the_catalogue_and_plans_load_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys, core.scenarios, core.race_plan\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # minigpt experiment --list and --help stay instant
