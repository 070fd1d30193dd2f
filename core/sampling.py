"""The sampling pipeline: pure functions over logits (V,), in one fixed order.

repetition penalty -> temperature -> top-k -> top-p -> min-p -> softmax -> draw. Temperature 0
skips the rest and puts all mass on the argmax. `ranked_distribution` is the one path: the draw,
the candidates, the candidate panel and the sampling lab all read its result. One `topk` ranks
the candidates, the later stages work on those K values, and it keeps what each stage did.
`sampling_distribution` is its readable twin over the whole vocabulary, stage by stage; a
test checks that they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from core.config import SamplingConfig
from core.errors import UserError


def apply_repetition_penalty(
    logits: torch.Tensor, context_ids: list[int], penalty: float
) -> torch.Tensor:
    """Make tokens already in the context less likely: positive logits / penalty, negative x."""
    if penalty == 1.0 or not context_ids:
        return logits
    seen = torch.tensor(sorted(set(context_ids)), device=logits.device)  # (U,)
    chosen = logits[seen]  # (U,)
    penalized = torch.where(chosen > 0, chosen / penalty, chosen * penalty)  # (U,)
    out = logits.clone()  # (V,)
    out[seen] = penalized
    return out


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide by temperature (> 0): below 1 sharpens, above 1 flattens."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 here (0 is greedy), got {temperature}")
    return logits / temperature  # (V,)


def apply_top_k(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the k largest logits (k clamped to the vocabulary); the rest become -inf."""
    if top_k is None or top_k >= logits.shape[-1]:
        return logits
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    kth = torch.topk(logits, top_k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))  # (V,)


def apply_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability mass reaches top_p."""
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)  # (V,), (V,)
    probs = torch.softmax(sorted_logits, dim=-1)  # (V,)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # (V,)
    # the first token is always kept, even when top_p rounds to 0 in float32
    drop_sorted = mass_before >= max(top_p, torch.finfo(probs.dtype).tiny)
    drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)  # (V,)
    return logits.masked_fill(drop, float("-inf"))  # (V,)


def apply_min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Drop tokens whose probability is below min_p x the most likely token's."""
    if min_p <= 0:
        return logits
    probs = torch.softmax(logits, dim=-1)  # (V,)
    return logits.masked_fill(probs < min_p * probs.max(), float("-inf"))  # (V,)


STAGES = ("repetition penalty", "temperature", "top-k", "top-p", "min-p")  # in the order they run
KEPT = len(STAGES)  # the stage index of a token no stage removed


@dataclass(frozen=True)
class StageCut:
    """What one stage of the sampler took out of the distribution, as plain values."""

    stage: str  # one of STAGES
    tokens: int  # tokens it removed; for the repetition penalty, the tokens it changed
    # the probability they held in the uncut distribution, softmax(penalized logits / T), so
    # the cuts and the kept tokens add up to 1; for the penalty, what the context's tokens
    # lost (negative when a penalty below 1 raised them), softmax(logits / T) before and after
    mass: float


@dataclass(frozen=True, eq=False)
class RankedDistribution:
    """The distribution the next token is drawn from, most likely first, with the record of
    what each stage did to it.

    The draw needs only `probs` and `ids`; the whole-vocabulary views (the candidate panel,
    the sampling lab) read the rest, computed from that record when first asked for.
    """

    sampling: SamplingConfig
    probs: torch.Tensor  # (K,) what `sample_next` draws from; 0 where a stage dropped a token
    ids: torch.Tensor  # (K,) their token ids
    prob_list: list[float]  # probs as plain values, from the one .tolist() a step makes
    id_list: list[int]
    logits: torch.Tensor  # (V,) the model's logits, float32
    penalized: torch.Tensor  # (V,) after the repetition penalty
    # (K,) each: the ranked logits after temperature, top-p and min-p; empty when greedy
    ranked: tuple[torch.Tensor, ...]
    fell_back: bool  # float32 overflowed, so the greedy token took all the mass

    @property
    def greedy(self) -> bool:
        """Only the greedy token can be drawn: temperature 0, or a fallback to it."""
        return self.sampling.temperature == 0 or self.fell_back

    @cached_property
    def model_probs(self) -> torch.Tensor:
        """softmax(logits) (V,): the model's own distribution, T = 1, before any stage."""
        return torch.softmax(self.logits.double(), dim=-1)

    @cached_property
    def scaled(self) -> torch.Tensor:
        """The penalized logits / T (V,) the cuts see; T = 1 when greedy."""
        return self.penalized.nan_to_num(nan=-math.inf) / (self.sampling.temperature or 1.0)

    @cached_property
    def uncut(self) -> torch.Tensor:
        """softmax(scaled) (V,): the distribution before any cut."""
        return torch.softmax(self.scaled, dim=-1).nan_to_num(nan=0.0)

    @cached_property
    def removed_by(self) -> torch.Tensor:
        """(V,) for each token id the index in STAGES of the stage that removed it, KEPT for
        none: the first stage whose recorded output holds -inf for it (no stage runs again)."""
        was_in = self.logits > -math.inf  # (V,)
        after_penalty = self.penalized > -math.inf  # (V,); the penalty removes only by overflow
        # at T = 0 (or its limit) temperature keeps the argmax alone; else top-k keeps K
        left_out = 1 if self.greedy else 2
        removed = torch.where(after_penalty, left_out, torch.where(was_in, 0, KEPT))  # (V,)
        if self.greedy:
            return removed.index_fill(0, self.ids, KEPT)  # (V,)
        # -inf stays -inf, so the stages a ranked token passed are the outputs still holding it
        passed = (torch.stack(self.ranked) > -math.inf).sum(0)  # (K,)
        stage = torch.tensor((1, 3, 4, KEPT), device=passed.device)[passed]  # (K,)
        ranked_removed = torch.where(after_penalty[self.ids], stage, removed[self.ids])  # (K,)
        return removed.index_copy(0, self.ids, ranked_removed)  # (V,)

    @cached_property
    def cuts(self) -> tuple[StageCut, ...]:
        """Each stage's tokens and probability mass removed, in the order the stages run."""
        # float64: a stage's mass is a sum of up to V small shares
        uncut = self.scaled.double().softmax(dim=-1).nan_to_num(nan=0.0)  # (V,)
        removed = self.removed_by  # (V,)
        tokens = torch.bincount(removed, minlength=KEPT + 1).double()  # (S + 1,)
        mass = uncut.new_zeros(KEPT + 1).index_add_(0, removed, uncut)  # (S + 1,)
        # the penalty reshapes rather than removes: count what it changed and what that lost
        changed = self.penalized != self.logits  # (V,)
        scale = self.sampling.temperature or 1.0
        unpenalized = (self.logits / scale).double().softmax(dim=-1)  # (V,)
        tokens[0] = changed.sum()
        mass[0] = torch.where(changed, unpenalized - uncut, 0.0).sum()
        counts, masses = torch.stack([tokens, mass]).tolist()
        return tuple(StageCut(stage, int(counts[i]), masses[i]) for i, stage in enumerate(STAGES))


def ranked_distribution(
    logits: torch.Tensor, sampling: SamplingConfig, context_ids: list[int] | None = None
) -> RankedDistribution:
    """The distribution the next token is drawn from, every stage applied once, in order.

    One `topk` does the top-k cut and the ranking at once, so the later stages and the
    candidate list work on K values instead of the whole vocabulary. Settings so extreme that
    float32 overflows give the greedy token; NaN logits from the model raise a UserError.
    """
    logits = logits.float()  # (V,)
    penalized = apply_repetition_penalty(logits, context_ids or [], sampling.repetition_penalty)
    ranked: tuple[torch.Tensor, ...] = ()
    if sampling.temperature == 0:
        ids = penalized.argmax().view(1)  # (1,); NaN counts as the largest
        # the softmax of one logit is 1, or NaN when it is not finite: checked below
        probs = torch.softmax(penalized.gather(0, ids), dim=-1)  # (1,)
    else:
        vocab_size = logits.shape[-1]
        top_k = vocab_size if sampling.top_k is None else min(sampling.top_k, vocab_size)
        top, ids = torch.topk(penalized, top_k)  # (K,), (K,); NaN ranks first
        tempered = apply_temperature(top, sampling.temperature)  # (K,)
        after_top_p = apply_top_p(tempered, sampling.top_p)  # (K,)
        after_min_p = apply_min_p(after_top_p, sampling.min_p)  # (K,)
        ranked = (tempered, after_top_p, after_min_p)
        probs = torch.softmax(after_min_p, dim=-1)  # (K,)
    # the ranking is sorted (NaN first), so the distribution is broken exactly when its first
    # probability is NaN (or 0): one check on the list the candidates need anyway
    prob_list = probs.tolist()
    fell_back = not prob_list[0] > 0
    if fell_back:
        probs, ids = _greedy_fallback(logits, penalized)  # (1,), (1,)
        prob_list, ranked = [1.0], ()
    return RankedDistribution(
        sampling, probs, ids, prob_list, ids.tolist(), logits, penalized, ranked, fell_back
    )


def _greedy_fallback(
    logits: torch.Tensor, penalized: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy token as probability (1,) and id (1,), for a distribution that is not finite.

    A huge repetition penalty or a tiny temperature overflows float32 into inf and NaN; the
    greedy token is their limit: the largest penalized logit, ties (several pushed to inf)
    broken by the raw logit. Non-finite raw logits mean damaged weights: a UserError.
    """
    if not bool(torch.isfinite(logits).all()):
        raise UserError(
            "the model's logits are NaN or infinite, so its weights are damaged; load another "
            "checkpoint or train again"
        )
    penalized = penalized.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf)  # (V,)
    tied = penalized == penalized.max()  # (V,)
    best = logits.masked_fill(~tied, -math.inf).argmax()  # ()
    return torch.ones(1, device=logits.device), best.view(1)  # (1,), (1,)


def sampling_distribution(
    logits: torch.Tensor, sampling: SamplingConfig, context_ids: list[int] | None = None
) -> torch.Tensor:
    """The readable twin of `ranked_distribution`: every stage over the whole vocabulary, in
    order, giving the probabilities (V,) the next token is drawn from."""
    penalty = sampling.repetition_penalty
    logits = apply_repetition_penalty(logits.float(), context_ids or [], penalty)  # (V,)
    if sampling.temperature == 0:
        return torch.zeros_like(logits).scatter(0, logits.argmax().view(1), 1.0)  # (V,)
    logits = apply_temperature(logits, sampling.temperature)  # (V,)
    logits = apply_top_k(logits, sampling.top_k)  # (V,)
    logits = apply_top_p(logits, sampling.top_p)  # (V,)
    logits = apply_min_p(logits, sampling.min_p)  # (V,)
    return torch.softmax(logits, dim=-1)  # (V,)


def sample_next(probs: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """Draw an index of probs (N,) with its probability; zero-probability entries never win.

    Inverse-CDF sampling: one uniform draw against the running sum. Cheaper per token than
    `torch.multinomial`, whose argument checks cost more than the draw at these sizes.
    """
    return draw_at(probs, float(torch.rand((), generator=generator)))  # in [0, 1)


def draw_at(probs: torch.Tensor, uniform: float) -> int:
    """The index of probs (N,) that the uniform number `uniform` in [0, 1) picks by inverse
    CDF: the one `sample_next` returns when its generator gives that number."""
    cumulative = torch.cumsum(probs, dim=-1)  # (N,)
    # the first entry whose running sum passes the draw; a zero entry never raises the sum
    index = int(torch.searchsorted(cumulative, cumulative[-1:] * uniform, right=True))
    if index < probs.shape[-1]:
        return index
    # nothing passed: a NaN or zero-sum distribution, or a draw rounded up to the total
    return int(probs.nan_to_num(nan=0.0).argmax())


def entropy_of(probs: torch.Tensor) -> float:
    """Shannon entropy in bits."""
    return float(torch.special.entr(probs).sum()) / math.log(2)  # entr(0) = 0
