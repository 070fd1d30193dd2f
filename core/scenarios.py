"""A scenario per lesson: the shape, learning rate, steps and data in which one design choice
shows what it is for, found by measurement (docs/performance.md), each a race of a minute or
less on two cores. Plain configs only, so the CLI can list them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.config import PRESETS, Config
from core.errors import UserError
from core.variants import VARIANTS, Arm
from core.verdict import AHEAD, BEHIND, Check

# the studio's or --data's text, or a generated one (core.synthetic)
CORPUS, PAIRS, ORDERED_PAIRS = "corpus", "pairs", "ordered-pairs"
DEFAULT_SEEDS = 2
# what a race can measure beside the loss (core.instruments measures them)
ATTENTION, GRAD_FLOW, STEP_SIZES, SPIKE = "attention", "grad-flow", "step-sizes", "spike"


@dataclass(frozen=True)
class Spike:
    """A garbage batch's worth of gradient: every gradient of step `step` times `factor`."""

    step: int
    factor: float = 1000.0


@dataclass(frozen=True)
class Scenario:
    """The race that shows one lesson, and the verdicts that must agree with it."""

    name: str
    question: str
    base: Config
    steps: int
    arms: tuple[Arm, ...]  # the reference first
    checks: tuple[Check, ...]
    data: str = CORPUS
    spike: Spike | None = None
    instruments: tuple[str, ...] = ()
    setting: str = ""  # why this shape, in one line
    # the corpus's first characters: a few hundred steps read far less than this, and the
    # race tokenises it once per arm and seed
    corpus_chars: int = 500_000

    @property
    def reference(self) -> str:
        return self.arms[0].name


def _shape(**changes) -> Config:
    """A small, fast shape derived from the tiny preset: scenarios change what their lesson
    needs and keep the rest small."""
    base = replace(
        PRESETS["tiny"],
        block_size=32,
        embedding_dim=64,
        num_heads=4,
        num_layers=2,
        batch_size=16,
        learning_rate=3e-3,
        warmup_steps=10,
        eval_batches=4,
    )
    return replace(base, **changes)


def _check(arm: str, expect: str = BEHIND, reference: str = "baseline", lesson: str = "") -> Check:
    return Check(arm, reference, expect, lesson or VARIANTS[arm].shows)


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "mask",
            "6: why -inf in the causal mask, and why hide the future at all?",
            _shape(),
            200,
            (Arm("baseline"), Arm("mask-zero", "mask-zero"), Arm("no-mask", "no-mask")),
            (_check("mask-zero"), _check("no-mask")),
            setting="any shape: a leak shows at once under the real causal mask",
        ),
        Scenario(
            "no-scale",
            VARIANTS["no-scale"].question,
            _shape(embedding_dim=128, num_heads=1, learning_rate=1e-2),
            120,
            (Arm("baseline"), Arm("no-scale", "no-scale")),
            (
                _check(
                    "no-scale",
                    lesson="q . k is a sum of head_dim products, so its spread grows with "
                    "sqrt(head_dim): one 128-wide head's unscaled scores spread wide, softmax "
                    "puts all its weight on one position (see the entropy) and its gradient "
                    "there vanishes",
                ),
            ),
            instruments=(ATTENTION,),
            setting="one 128-wide head at lr 1e-2: the spread of q . k grows with sqrt(head_dim)",
        ),
        Scenario(
            "post-norm",
            VARIANTS["post-norm"].question,
            _shape(num_layers=12, learning_rate=1e-2, warmup_steps=0),
            100,
            (Arm("baseline"), Arm("post-norm", "post-norm")),
            (
                _check(
                    "post-norm",
                    lesson="with the LayerNorm after each sum there is no identity path from "
                    "the loss to the first blocks: every gradient passes 12 norms, comes out "
                    "uneven through the stack (the bars), and at a high rate without warm-up "
                    "the run stalls near the letter frequencies; pre-norm keeps x + f(ln(x))",
                ),
            ),
            instruments=(GRAD_FLOW,),
            setting="12 layers at lr 1e-2 without warm-up: post-norm needs warm-up at depth",
        ),
        Scenario(
            "no-residual",
            VARIANTS["no-residual"].question,
            _shape(num_layers=8),
            80,
            (Arm("baseline"), Arm("no-residual", "no-residual")),
            (
                _check(
                    "no-residual",
                    lesson="without x + f(x) the gradient must pass through every block's "
                    "weights on its way down: through 8 of them it fades (the bars shrink "
                    "toward the first block), and the first blocks barely learn",
                ),
            ),
            instruments=(GRAD_FLOW,),
            setting="8 layers: the gradient has a long way down",
        ),
        Scenario(
            "sgd",
            VARIANTS["sgd"].question,
            _shape(),
            150,
            (
                Arm("adam"),
                Arm("sgd", "sgd"),
                Arm("sgd-tuned", "sgd", (("learning_rate", 0.5),)),
            ),
            (
                Check(
                    "sgd",
                    "sgd-tuned",
                    BEHIND,
                    "at Adam's rate plain SGD barely moves: the wrong rate, not yet the lesson",
                ),
                Check(
                    "sgd-tuned",
                    "adam",
                    BEHIND,
                    "even at its own best rate SGD trails: one step size for every weight, "
                    "where Adam divides each weight's step by its own gradient scale",
                ),
            ),
            instruments=(STEP_SIZES,),
            setting="SGD at Adam's rate (3e-3) and at its own tuned rate (0.5)",
        ),
        Scenario(
            "no-clip",
            VARIANTS["no-clip"].question,
            _shape(),
            150,
            (Arm("baseline"), Arm("no-clip", "no-clip")),
            (
                _check(
                    "no-clip",
                    lesson="a garbage batch's gradient (x1000 at step 40) reaches the weights "
                    "whole without the threshold: Adam's second moment jumps, its steps shrink "
                    "for a hundred steps and the run falls behind; clipped, the spike is one "
                    "ordinary step",
                ),
            ),
            spike=Spike(40, 1000.0),
            instruments=(SPIKE,),
            setting="a x1000 gradient spike injected at step 40, as a garbage batch would",
        ),
        Scenario(
            "batch-1",
            VARIANTS["batch-1"].question,
            _shape(),
            150,
            (
                Arm("baseline"),
                Arm("batch-1", "batch-1"),
                Arm("batch-1-tokens", "batch-1", steps_scale=16),
            ),
            (
                _check(
                    "batch-1",
                    lesson="at equal steps one sequence per step sees 16 times fewer tokens and "
                    "follows a noisier gradient",
                ),
                Check(
                    "batch-1-tokens",
                    "baseline",
                    None,
                    "at equal tokens batch 1 takes 16 times the steps: compare the loss, then "
                    "the seconds it took (ms/step x steps)",
                ),
            ),
            setting="batch 16 against batch 1 at equal steps, and at equal tokens (16x steps)",
        ),
        Scenario(
            "one-head",
            VARIANTS["one-head"].question,
            _shape(num_layers=1, block_size=16, learning_rate=1e-2),
            1500,
            (Arm("baseline"), Arm("one-head", "one-head")),
            (
                _check(
                    "one-head",
                    lesson="naming 'bd' needs both letters and which came first; four heads "
                    "each look at one place, one head blends its two places into one mixture "
                    "and loses their order: it stalls where the order would start to pay",
                ),
            ),
            data=ORDERED_PAIRS,
            setting="4 heads of 16 against one of 64 (the same parameters), one layer, on a "
            "generated text 'bd-n' where the answer names an ordered pair",
        ),
        Scenario(
            "no-ffn",
            VARIANTS["no-ffn"].question,
            _shape(num_layers=4),
            200,
            (
                Arm("baseline"),
                Arm("ffn-1x", "baseline", (("ffn_dim", 64),)),
                Arm("no-ffn", "no-ffn"),
            ),
            (
                _check(
                    "no-ffn",
                    lesson="attention only mixes positions; the feed-forward network is where "
                    "each position computes, and most of a block's parameters live",
                ),
                Check(
                    "ffn-1x",
                    "baseline",
                    None,
                    "the expansion ratio: 1x starts slower than 4x, and in a couple of hundred "
                    "steps at this size it has mostly caught up (measured: no verdict predicted)",
                ),
            ),
            setting="4 layers, the FFN at 4x, at 1x and none, at equal steps",
        ),
        Scenario(
            "concat",
            VARIANTS["concat-embeddings"].question,
            _shape(
                tokenizer="bpe",
                embedding_dim=16,
                num_heads=2,
                num_layers=1,
                learning_rate=1e-2,
            ),
            300,
            (Arm("baseline"), Arm("concat", "concat-embeddings")),
            (
                _check(
                    "concat",
                    lesson="adding lets token and position share all 16 dimensions; "
                    "concatenated halves leave 512 BPE tokens only 8, and a narrow model "
                    "feels every dimension it loses",
                ),
            ),
            setting="16 wide with a 512-token BPE vocabulary: tokens need the room",
        ),
        Scenario(
            "no-position",
            VARIANTS["no-position"].question,
            _shape(num_layers=1, block_size=16, learning_rate=1e-2),
            300,
            (Arm("baseline"), Arm("no-position", "no-position")),
            (
                _check(
                    "no-position",
                    lesson="in 'kkbbqq' the letter after a pair's first repeats it, after its "
                    "second a new one comes: the letters seen are the same either way, only "
                    "their order tells, and without positions the model sees a bag of them",
                ),
            ),
            data=PAIRS,
            setting="a generated text of doubled letters ('kkbbqq'): only the order says "
            "whether a letter repeats",
        ),
        Scenario(
            "wide",
            VARIANTS["wide"].question,
            _shape(embedding_dim=32),
            150,
            (Arm("baseline"), Arm("wide", "wide")),
            (_check("wide", AHEAD, lesson="twice the width, four times the block parameters"),),
            setting="32 wide against 64 wide",
        ),
    )
}


def scenario_names(name: str) -> list[str]:
    """The scenarios `--scenario NAME` runs: one, or every one for `all`; else a UserError."""
    if name == "all":
        return list(SCENARIOS)
    if name not in SCENARIOS:
        raise UserError(
            f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)} or all "
            "(minigpt experiment --list)"
        )
    return [name]


def variant_checks(names: list[str]) -> list[Check]:
    """The free-form race's checks: each variant against the baseline, as its lesson says."""
    return [
        Check(name, "baseline", VARIANTS[name].expect, VARIANTS[name].shows)
        for name in names
        if name != "baseline"
    ]
