"""The experiment catalogue: each variant switches off or swaps one design choice of the
reference design, with the question it answers. Plain configs only, so the CLI can list it
without loading torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.config import Config
from core.errors import UserError

DEFAULT_VARIANTS = "mask-zero,no-scale,post-norm,no-position"  # baseline + 4: ~30 s on tiny


@dataclass(frozen=True)
class Variant:
    """One design choice switched off or swapped, and the question it answers."""

    name: str
    question: str  # the question of the reference design it answers
    shows: str  # what the race shows, in one line
    change: Callable[[Config], Config] = field(repr=False)
    # what the lesson predicts against the baseline: "behind" or "ahead" in causal validation
    # loss, or None where a loss does not settle it (another tokenizer's units)
    expect: str | None = "behind"


def _switch(**changes) -> Callable[[Config], Config]:
    return lambda config: replace(config, **changes)


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("baseline", "-", "the preset unchanged: the reference design", _switch(), None),
        Variant(
            "mask-zero",
            "6a: why -inf and not 0 in the causal mask?",
            "scores set to 0 still get softmax weight: the future leaks, so its loss 'wins' but "
            "collapses under the real causal mask",
            _switch(attention_mask="zero"),
        ),
        Variant(
            "no-mask",
            "6b: why must the future stay hidden?",
            "each position sees the answer it must predict: training loss falls, the causal "
            "validation loss does not",
            _switch(attention_mask="none"),
        ),
        Variant(
            "no-scale",
            "5: why divide q . k by sqrt(head_dim)?",
            "unscaled scores grow with the head width and saturate softmax: slower, noisier "
            "learning",
            _switch(attention_scale=False),
        ),
        Variant(
            "post-norm",
            "10: why pre-norm rather than post-norm?",
            "LayerNorm after the residual sum: the identity path is gone at init",
            _switch(norm_placement="post"),
        ),
        Variant(
            "no-residual",
            "9: what do residual connections solve?",
            "every block must carry the whole signal: gradients fade through the stack",
            _switch(residual=False),
        ),
        Variant(
            "one-head",
            "7: why several heads rather than one?",
            "one head of the full width: the same parameters, one attention pattern per layer",
            lambda config: replace(config, num_heads=1),
        ),
        Variant(
            "no-ffn",
            "8: what does the feed-forward network add?",
            "attention alone mixes positions but computes little per position",
            _switch(feed_forward=False),
        ),
        Variant(
            "sgd",
            "14: what does Adam do that SGD does not?",
            "plain SGD with the same schedule: no per-parameter step sizes",
            _switch(optimizer="sgd"),
        ),
        Variant(
            "no-clip",
            "15: why clip the gradient norm?",
            "without the threshold, spikes reach the weights",
            _switch(grad_clip=0.0),
        ),
        Variant(
            "batch-1",
            "13: what do larger batches buy?",
            "one sequence per step: cheap steps, noisy gradients",
            _switch(batch_size=1),
        ),
        Variant(
            "concat-embeddings",
            "2: why add token and position vectors?",
            "halves concatenated to the same width: each part gets half the room",
            _switch(embedding_combine="concat"),
        ),
        Variant(
            "no-position",
            "2: what do position embeddings give?",
            "without them the model sees a bag of tokens: order is invisible",
            _switch(position_embedding=False),
        ),
        Variant(
            "bpe",
            "1: characters or subword tokens?",
            "a byte-level BPE vocabulary: fewer, longer tokens; compare in bits per character",
            _switch(tokenizer="bpe"),
            None,
        ),
        Variant(
            "wide",
            "19: what does width buy?",
            "embedding width doubled: four times the block parameters",
            lambda config: replace(config, embedding_dim=2 * config.embedding_dim),
            "ahead",
        ),
    )
}


def parse_variants(names: str | list[str]) -> list[str]:
    """Variant names, baseline first, or a UserError naming the unknown ones."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UserError(
            f"unknown variant {', '.join(unknown)}; choose from {', '.join(VARIANTS)} "
            "(minigpt experiment --list)"
        )
    return ["baseline", *dict.fromkeys(n for n in names if n != "baseline")]


@dataclass(frozen=True)
class Arm:
    """One line of a race: a catalogue variant of the race's base config, with the settings a
    scenario changes on top (SGD at its own rate), and how many times the base's steps it
    trains (batch 1 at equal tokens)."""

    name: str
    variant: str = "baseline"
    changes: tuple[tuple[str, Any], ...] = ()
    steps_scale: int = 1

    def config(self, base: Config) -> Config:
        return replace(VARIANTS[self.variant].change(base), **dict(self.changes))


def variant_arms(names: str | list[str]) -> list[Arm]:
    """The free-form race's arms: the baseline, then each named variant as it is."""
    return [Arm(name, name) for name in parse_variants(names)]
