"""A race's verdict, computed from its numbers: how far an arm ended from its reference, against
the noise between seeds. Plain floats only, so the verdict can be checked on made-up curves."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# below this a gap teaches nothing at these sizes, however well the seeds agree on it
MIN_EFFECT = 0.03
# a gap counts once it is wider than this many times the seed noise: with two or three seeds
# the spread itself is a rough estimate, so one noise width is not enough (with two seeds,
# 1.5 asks the smaller seed's gap to be at least a fifth of the larger one's, same sign)
NOISE_FACTOR = 1.5
BEHIND, AHEAD, SAME, DIVERGED = "behind", "ahead", "same", "diverged"


@dataclass(frozen=True)
class Band:
    """One arm's metric across seeds at one evaluation: the mean and the lowest and highest."""

    mean: float
    low: float
    high: float

    @property
    def noise(self) -> float:
        """Half the seeds' range: how far a seed strays from the middle."""
        return (self.high - self.low) / 2


def band(values: list[float]) -> Band:
    """The band of one evaluation's values, one per seed; NaN when any seed is not finite."""
    if not values or not all(math.isfinite(v) for v in values):
        return Band(math.nan, math.nan, math.nan)
    return Band(statistics.fmean(values), min(values), max(values))


@dataclass(frozen=True)
class Verdict:
    """Where `arm` ended against `reference`: `margin` > 0 means behind (a higher loss)."""

    arm: str
    reference: str
    outcome: str  # BEHIND, AHEAD, SAME or DIVERGED
    margin: float  # mean over seeds of (arm - reference) at the last evaluation
    noise: float  # half the range of the gap between seeds, at the last evaluation
    since_step: int | None  # from this evaluation on, the gap stayed outside the noise
    seeds: int
    unit: str = "nats"

    def agrees(self, expect: str | None) -> bool:
        """The verdict is the one the lesson predicts (a diverged arm is behind)."""
        if expect is None:
            return False
        return self.outcome == expect or (expect == BEHIND and self.outcome == DIVERGED)

    def line(self) -> str:
        """The verdict in one sentence, its numbers included."""
        noise = f"±{self.noise:.2f}" if self.seeds > 1 else "one seed: no noise estimate"
        since = ""
        if self.since_step is not None:
            since = f" from step {self.since_step} on" if self.since_step else " from the start"
        if self.outcome == DIVERGED:
            return f"{self.arm}: diverged (its loss is not finite)"
        if self.outcome == SAME:
            return (
                f"{self.arm}: no difference at this size (within noise: "
                f"{self.margin:+.2f} {self.unit} vs {noise})"
            )
        word = "behind" if self.outcome == BEHIND else "ahead of"
        return (
            f"{self.arm}: {abs(self.margin):.2f} {self.unit} {word} {self.reference}{since}, "
            f"outside the seed noise ({noise})"
        )


def threshold(noise: float) -> float:
    """The smallest gap that counts against a seed noise."""
    return max(MIN_EFFECT, NOISE_FACTOR * noise)


def verdict(
    arm: str,
    reference: str,
    steps: list[int],
    arm_runs: list[list[float]],
    reference_runs: list[list[float]],
    unit: str = "nats",
) -> Verdict:
    """Compare two arms evaluated at the same `steps`, one list of values per seed.

    The gap is the mean over seeds of arm minus reference at each evaluation; seed i of both
    arms drew the same batches from the same seed, so a pair shares its luck, and the noise is
    how far the gap itself strays between seeds (half its range). A seed's lucky start moves
    both arms of its pair and cancels; what is left is whether the seeds agree on the gap.
    """
    seeds = min(len(arm_runs), len(reference_runs))
    if seeds == 0 or not steps:
        raise ValueError("a verdict needs at least one seed and one evaluation")
    arm_runs, reference_runs = arm_runs[:seeds], reference_runs[:seeds]
    if any(not math.isfinite(run[-1]) for run in arm_runs):
        return Verdict(arm, reference, DIVERGED, math.inf, math.nan, None, seeds, unit)
    gaps, outcomes = [], []
    for i in range(len(steps)):
        paired = band([a[i] - r[i] for a, r in zip(arm_runs, reference_runs, strict=True)])
        gap, noise = paired.mean, paired.noise
        gaps.append((gap, noise))
        if not math.isfinite(gap) or abs(gap) <= threshold(noise):
            outcomes.append(SAME)
        else:
            outcomes.append(BEHIND if gap > 0 else AHEAD)
    margin, noise = gaps[-1]
    outcome = outcomes[-1]
    since = None
    if outcome != SAME:
        first = len(steps) - 1
        while first > 0 and outcomes[first - 1] == outcome:
            first -= 1
        since = steps[first]
    return Verdict(arm, reference, outcome, margin, noise, since, seeds, unit)


@dataclass(frozen=True)
class Check:
    """One comparison a race's verdict makes: `arm` against `reference`, the outcome the
    lesson predicts, and the lesson's why, shown only when the numbers agree."""

    arm: str
    reference: str
    expect: str | None
    lesson: str


def race_verdicts(variants: list[dict], checks: list[Check]) -> list[dict]:
    """Each check's verdict on a race's JSON variants (`results_to_dict`'s form): the line,
    whether it agrees, and the lesson only where it does. Arms with another tokenizer are
    compared in bits per character, the others in nats of causal validation loss."""
    by_name = {str(v.get("name")): v for v in variants}
    verdicts = []
    for check in checks:
        arm, reference = by_name.get(check.arm), by_name.get(check.reference)
        if arm is None or reference is None:
            continue
        if not arm.get("seed_curves") or not reference.get("seed_curves"):
            continue  # a race saved before seeds were kept
        bpc = (arm.get("settings") or {}).get("tokenizer") != (reference.get("settings") or {}).get(
            "tokenizer"
        )
        key, unit = ("seed_bpc", "bits/char") if bpc else ("seed_curves", "nats")
        arm_runs = [list(map(float, run)) for run in arm[key]]
        reference_runs = [list(map(float, run)) for run in reference[key]]
        count = min(len(arm_runs[0]), len(reference_runs[0]))
        steps = [int(p["step"]) for p in reference["curve"]][:count]
        result = verdict(
            check.arm,
            check.reference,
            steps,
            [run[:count] for run in arm_runs],
            [run[:count] for run in reference_runs],
            unit,
        )
        agrees = result.agrees(check.expect)
        verdicts.append(
            {
                "arm": result.arm,
                "reference": result.reference,
                "outcome": result.outcome,
                "margin": result.margin,
                "noise": result.noise,
                "since_step": result.since_step,
                "seeds": result.seeds,
                "unit": unit,
                "expect": check.expect,
                "agrees": agrees,
                "line": result.line(),
                "lesson": check.lesson if agrees else "",
                # a comparison the lesson predicts nothing about keeps its text as a note
                "note": check.lesson if check.expect is None else "",
            }
        )
    return verdicts


def lesson_agrees(verdicts: list[dict]) -> bool:
    """Every verdict that the lesson predicts agrees (those kept for comparison only do not
    count), and there is at least one."""
    predicted = [v for v in verdicts if v.get("expect")]
    return bool(predicted) and all(v["agrees"] for v in predicted)
