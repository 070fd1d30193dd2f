"""The pending step's distribution as the front ends see it: the top candidates, and the whole
vocabulary ranked, kept tokens first with the probabilities `sample_next` draws from, then the
tokens a cut removed, each with its value at every stage and the stage that removed it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.sampling import KEPT, STAGES, RankedDistribution, StageCut


@dataclass(frozen=True)
class Candidate:
    token_id: int
    text: str  # the token as readable text (partial UTF-8 shown escaped)
    prob: float


@dataclass(frozen=True)
class Ranking:
    """Every token of the vocabulary, most likely first, through each stage, as plain values."""

    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]  # readable text
    probs: tuple[float, ...]  # what the draw gives each token; 0 where a stage cut it
    uncut: tuple[float, ...]  # softmax(logits / temperature) before any cut; T = 1 when greedy
    logits: tuple[float, ...]  # the model's raw logits for this step
    model_probs: tuple[float, ...]  # softmax(logits): the model's own, T = 1, no penalty
    scaled: tuple[float, ...]  # the penalized logits / temperature the cuts see (uncut's)
    removed_by: tuple[str | None, ...]  # the stage that removed each token, None if none did
    kept: int  # tokens the draw can pick: the first `kept` of the ranking
    cut: str | None  # what ends the kept tokens: greedy, a stage's name, underflow; None
    cuts: tuple[StageCut, ...]  # each stage's tokens and mass removed, in order

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Distribution:
    """The distribution of the pending step under the current settings (no forward pass)."""

    candidates: tuple[Candidate, ...]  # most likely first, from the sampled distribution
    entropy: float  # bits
    greedy: bool
    ranking: Ranking | None = None  # the whole vocabulary, for the candidate panel


def rank_vocabulary(ranked: RankedDistribution, token_texts: list[str]) -> Ranking:
    """The ranked distribution extended to the whole vocabulary, as plain values.

    The first K entries are the draw's own; every other token follows by its penalized logit
    with probability 0. What each stage did comes from the distribution's own record.
    """
    ids, probs = ranked.ids, ranked.probs  # (K,), (K,)
    vocab_size = ranked.penalized.shape[-1]
    all_ids, all_probs = ids, probs
    if ids.shape[-1] < vocab_size:
        order = ranked.penalized.nan_to_num(nan=-math.inf)  # (V,)
        outside = torch.ones(vocab_size, dtype=torch.bool, device=ids.device)  # (V,)
        rest = outside.index_fill(0, ids, False).nonzero().squeeze(1)  # (V - K,)
        rest = rest[torch.argsort(order[rest], descending=True, stable=True)]  # (V - K,)
        all_ids = torch.cat([ids, rest])  # (V,)
        all_probs = torch.cat([probs, probs.new_zeros(rest.shape)])  # (V,)
    # every column in one .tolist(); float32 values are exact in float64
    columns = torch.stack(
        [
            all_probs.nan_to_num(nan=0.0).double(),
            ranked.uncut[all_ids].double(),
            ranked.logits[all_ids].double(),
            ranked.model_probs[all_ids],
            ranked.scaled[all_ids].double(),
        ]
    )  # (5, V)
    prob_list, uncut, logits, model_probs, scaled = columns.tolist()
    id_list, stages = torch.stack([all_ids, ranked.removed_by[all_ids]]).tolist()
    kept = sum(p > 0 for p in prob_list)
    removed_by = tuple(STAGES[stage] if stage < KEPT else None for stage in stages)
    cut = None  # every token kept
    if kept < vocab_size:
        # greedy: temperature 0, or settings so extreme that they fell back to it; underflow:
        # no stage removed the next token, float32 rounded its probability to 0
        cut = "greedy" if ranked.greedy else removed_by[kept] or "underflow"
    return Ranking(
        token_ids=tuple(id_list),
        tokens=tuple(token_texts[i] for i in id_list),
        probs=tuple(prob_list),
        uncut=tuple(uncut),
        logits=tuple(logits),
        model_probs=tuple(model_probs),
        scaled=tuple(scaled),
        removed_by=removed_by,
        kept=kept,
        cut=cut,
        cuts=ranked.cuts,
    )
