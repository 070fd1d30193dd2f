"""What a race will run, for the CLI and the studio alike: a scenario's arms, shape, data and
instruments, or a free-form list of variants; then the race itself and its report, verdicts
included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from core.config import Config
from core.errors import UserError
from core.scenarios import (
    CORPUS,
    DEFAULT_SEEDS,
    ORDERED_PAIRS,
    PAIRS,
    SCENARIOS,
    Spike,
    variant_checks,
)
from core.synthetic import ordered_pairs_corpus, pairs_corpus
from core.variants import Arm, variant_arms
from core.verdict import Check, race_verdicts

FREE_STEPS = 300  # a free-form race's steps when none are given
# a race trains many small models one after another: on two busy cores one thread ran its
# steps fastest (docs/performance.md)
RACE_THREADS = 1


@dataclass(frozen=True)
class RacePlan:
    """One race, ready to run: plain values, so a child process can take it."""

    base: Config
    arms: tuple[Arm, ...]
    steps: int
    seeds: int
    checks: tuple[Check, ...]
    scenario: str | None = None
    data: str = CORPUS
    spike: Spike | None = None
    instruments: tuple[str, ...] = ()
    corpus_chars: int | None = None  # train on the corpus's first characters only

    @property
    def names(self) -> list[str]:
        return [arm.name for arm in self.arms]

    def text(self, corpus: str) -> str:
        """The text the race trains on: the corpus, or the scenario's generated one."""
        generated = {PAIRS: pairs_corpus, ORDERED_PAIRS: ordered_pairs_corpus}
        if self.data in generated:
            return generated[self.data]()
        return corpus[: self.corpus_chars] if self.corpus_chars else corpus

    def tokens_per_step(self) -> dict[str, int]:
        return {
            arm.name: arm.config(self.base).batch_size * self.base.block_size for arm in self.arms
        }


def scenario_plan(
    name: str, seeds: int | None = None, steps: int | None = None, **changes
) -> RacePlan:
    """The race of scenario `name`; `changes` (Config fields) reshape its base, to see
    whether the lesson holds at another size."""
    if name not in SCENARIOS:
        raise UserError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)} or all")
    scenario = SCENARIOS[name]
    return RacePlan(
        base=replace(scenario.base, **changes),
        arms=scenario.arms,
        steps=steps or scenario.steps,
        seeds=seeds or DEFAULT_SEEDS,
        checks=scenario.checks,
        scenario=name,
        data=scenario.data,
        spike=scenario.spike,
        instruments=scenario.instruments,
        corpus_chars=scenario.corpus_chars,
    )


def variants_plan(
    base: Config, names: str | list[str], steps: int | None = None, seeds: int | None = None
) -> RacePlan:
    """The free-form race: the baseline and the named variants of `base`."""
    arms = tuple(variant_arms(names))
    return RacePlan(
        base=base,
        arms=arms,
        steps=steps or FREE_STEPS,
        seeds=seeds or 1,
        checks=tuple(variant_checks([arm.name for arm in arms])),
    )


def run_plan(plan: RacePlan, corpus: str, stop: Callable[[], bool] = lambda: False) -> Iterator:
    """`core.experiments.race` for the plan: yields each RaceProgress, then the report (a
    dict: results_to_dict's form with the scenario, verdicts and wall seconds)."""
    from core.experiments import race, results_to_dict  # torch loads only to race

    started = time.perf_counter()
    results = ()
    events = race(
        plan.base,
        plan.text(corpus),
        list(plan.arms),
        plan.steps,
        seeds=plan.seeds,
        stop=stop,
        spike=plan.spike,
        instruments=plan.instruments,
    )
    for event in events:
        if isinstance(event, tuple):
            results = event
        else:
            yield event
    report = results_to_dict(results, plan.base, plan.steps)
    report["scenario"] = plan.scenario
    report["data"] = plan.data
    report["seconds"] = time.perf_counter() - started
    if plan.spike is not None:
        report["spike"] = {"step": plan.spike.step, "factor": plan.spike.factor}
    report["verdicts"] = race_verdicts(report["variants"], list(plan.checks))
    yield report
