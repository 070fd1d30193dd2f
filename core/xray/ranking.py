"""The pending step's distribution as the front ends see it: the top candidates, and the whole
vocabulary ranked, kept tokens first with the probabilities `sample_next` draws from, then the
tokens a cut removed, with their logits and where the cut fell."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.config import SamplingConfig
from core.sampling import apply_min_p, apply_temperature, apply_top_p


@dataclass(frozen=True)
class Candidate:
    token_id: int
    text: str  # the token as readable text (partial UTF-8 shown escaped)
    prob: float


@dataclass(frozen=True)
class Ranking:
    """Every token of the vocabulary, most likely first, as plain values."""

    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]  # readable text
    probs: tuple[float, ...]  # what the draw gives each token; 0 where a stage cut it
    uncut: tuple[float, ...]  # softmax(logits / temperature) before any cut; T = 1 when greedy
    logits: tuple[float, ...]  # the model's raw logits for this step
    kept: int  # tokens the draw can pick: the first `kept` of the ranking
    cut: str | None  # what ends the kept tokens: greedy, top-k, top-p, min-p, underflow; None

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Distribution:
    """The distribution of the pending step under the current settings (no forward pass)."""

    candidates: tuple[Candidate, ...]  # most likely first, from the sampled distribution
    entropy: float  # bits
    greedy: bool
    ranking: Ranking | None = None  # the whole vocabulary, for the candidate panel


def rank_vocabulary(
    probs: torch.Tensor,
    ids: torch.Tensor,
    logits: torch.Tensor,
    penalized: torch.Tensor,
    sampling: SamplingConfig,
    token_texts: list[str],
) -> Ranking:
    """The ranked distribution, probs (K,) over ids (K,), extended to the whole vocabulary.

    The first K entries are the draw's own; every other token follows by its penalized logit
    (V,) with probability 0. `logits` (V,) are the model's raw logits for the step.
    """
    vocab_size = penalized.shape[-1]
    ranked_count = ids.shape[-1]
    order = penalized.nan_to_num(nan=-math.inf)  # (V,)
    all_ids, all_probs = ids, probs
    if ranked_count < vocab_size:
        outside = torch.ones(vocab_size, dtype=torch.bool, device=ids.device)  # (V,)
        rest = outside.index_fill(0, ids, False).nonzero().squeeze(1)  # (V - K,)
        rest = rest[torch.argsort(order[rest], descending=True, stable=True)]  # (V - K,)
        all_ids = torch.cat([ids, rest])  # (V,)
        all_probs = torch.cat([probs, probs.new_zeros(rest.shape)])  # (V,)
    scale = sampling.temperature or 1.0
    uncut = torch.softmax(order / scale, dim=-1).nan_to_num(nan=0.0)[all_ids]  # (V,)
    prob_list = all_probs.nan_to_num(nan=0.0).tolist()
    kept = sum(p > 0 for p in prob_list)
    id_list = all_ids.tolist()
    return Ranking(
        token_ids=tuple(id_list),
        tokens=tuple(token_texts[i] for i in id_list),
        probs=tuple(prob_list),
        uncut=tuple(uncut.tolist()),
        logits=tuple(logits.float()[all_ids].tolist()),
        kept=kept,
        cut=_cut_stage(sampling, kept, order[ids], vocab_size),
    )


def _cut_stage(
    sampling: SamplingConfig, kept: int, ranked: torch.Tensor, vocab_size: int
) -> str | None:
    """The stage that dropped the token ranked just after the kept ones, from the ranked
    penalized logits (K,), through the same stage functions the draw used."""
    ranked_count, top_k = ranked.shape[-1], min(sampling.top_k or vocab_size, vocab_size)
    if kept >= vocab_size:
        return None
    if sampling.temperature == 0 or ranked_count == 1 < top_k:
        return "greedy"  # temperature 0, or settings so extreme that they fell back to it
    if kept >= ranked_count:
        return "top-k"
    tempered = apply_temperature(ranked, sampling.temperature)  # (K,)
    after_top_p = apply_top_p(tempered, sampling.top_p)  # (K,)
    if int(torch.isfinite(after_top_p).sum()) == kept:
        return "top-p"
    if int(torch.isfinite(apply_min_p(after_top_p, sampling.min_p)).sum()) == kept:
        return "min-p"
    return "underflow"  # float32 rounded the smallest kept probabilities to 0
