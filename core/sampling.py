"""The sampling pipeline: pure functions over logits (V,), in one fixed order.

repetition penalty -> temperature -> top-k -> top-p -> min-p -> softmax -> draw. Temperature 0
skips the rest and puts all mass on the argmax. `ranked_distribution` is the path generation
takes: one `topk` ranks the candidates and the later stages work on those K values.
`sampling_distribution` is its readable twin over the whole vocabulary, stage by stage; a
test checks that they agree.
"""

from __future__ import annotations

import math

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


def ranked_distribution(
    logits: torch.Tensor, sampling: SamplingConfig, context_ids: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distribution the next token is drawn from, every stage applied in order, as
    probabilities (K,) most likely first and their token ids (K,).

    One `topk` does the top-k cut and the ranking at once, so the later stages and the
    candidate list work on K values instead of the whole vocabulary. Tokens a stage dropped
    stay in the ranking with probability 0. Settings so extreme that float32 overflows give
    the greedy token; NaN logits from the model raise a UserError.
    """
    probs, ids, penalized = _ranked_stages(logits, sampling, context_ids)  # (K,), (K,), (V,)
    if not float(probs[0]) > 0:
        return _greedy_fallback(logits, penalized)
    return probs, ids


def _ranked_stages(
    logits: torch.Tensor, sampling: SamplingConfig, context_ids: list[int] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`ranked_distribution` without its validity check, plus the penalized logits (V,).

    The ranking is sorted (NaN first), so the distribution is broken exactly when its first
    probability is NaN: the check is one float, where checking every probability costs a pass.
    """
    logits = apply_repetition_penalty(
        logits.float(), context_ids or [], sampling.repetition_penalty
    )
    if sampling.temperature == 0:
        best = logits.argmax().view(1)  # (1,); NaN counts as the largest
        # the softmax of one logit is 1, or NaN when it is not finite: the callers check for that
        return torch.softmax(logits.gather(0, best), dim=-1), best, logits  # (1,), (1,), (V,)
    vocab_size = logits.shape[-1]
    top_k = vocab_size if sampling.top_k is None else min(sampling.top_k, vocab_size)
    ranked, ids = torch.topk(logits, top_k)  # (K,), (K,); NaN ranks first
    ranked = apply_temperature(ranked, sampling.temperature)
    ranked = apply_top_p(ranked, sampling.top_p)
    ranked = apply_min_p(ranked, sampling.min_p)
    return torch.softmax(ranked, dim=-1), ids, logits  # (K,), (K,), (V,)


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
    best = logits.float().masked_fill(~tied, -math.inf).argmax()  # ()
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
    cumulative = torch.cumsum(probs, dim=-1)  # (N,)
    uniform = float(torch.rand((), generator=generator))  # in [0, 1)
    # the first entry whose running sum passes the draw; a zero entry never raises the sum
    index = int(torch.searchsorted(cumulative, cumulative[-1:] * uniform, right=True))
    if index < probs.shape[-1]:
        return index
    # nothing passed: a NaN or zero-sum distribution, or a draw rounded up to the total
    return int(probs.nan_to_num(nan=0.0).argmax())


def entropy_of(probs: torch.Tensor) -> float:
    """Shannon entropy in bits."""
    return float(torch.special.entr(probs).sum()) / math.log(2)  # entr(0) = 0
