"""Tail draws: the same prefix, seed and temperature sampled with the top-k/top-p cut and
without it, and every token the uncut run drew from below the cut marked."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from core.config import SamplingConfig
from core.model import MiniGPT
from core.sampling import ranked_distribution
from core.session import GenerationSession
from core.tokenizer import Tokenizer

DEFAULT_CUT = SamplingConfig().top_k  # the cut compared against when the settings make none


@dataclass(frozen=True)
class TailRun:
    """One run's tokens and, for each, whether the cut would have removed it."""

    tokens: list[str]  # the text each token completed
    below_cut: list[bool]  # drawn from the tail the cut removes
    probs: list[float]  # the model's own probability (temperature 1) of each token
    first_below: int | None  # index of the first token from below the cut: where it derailed

    @property
    def below_count(self) -> int:
        return sum(self.below_cut)

    @property
    def mean_surprise(self) -> float:
        """Mean -log p of the run's tokens under the model, nats."""
        return -sum(math.log(max(p, 1e-30)) for p in self.probs) / max(1, len(self.probs))


@dataclass(frozen=True)
class TailDraws:
    prefix: str
    cut: str  # the cut as settings, e.g. "top-k 40"
    temperature: float
    seed: int
    with_cut: TailRun
    without_cut: TailRun


def cut_settings(sampling: SamplingConfig) -> SamplingConfig:
    """The settings with a cut: the given ones if they cut the tail, else top-k DEFAULT_CUT; a
    greedy temperature (no tail at all) becomes 1."""
    temperature = sampling.temperature or 1.0
    cuts = sampling.top_k is not None or sampling.top_p < 1 or sampling.min_p > 0
    cut = sampling if cuts else replace(sampling, top_k=DEFAULT_CUT)
    return replace(cut, temperature=temperature, num_candidates=1)


def describe_cut(sampling: SamplingConfig) -> str:
    parts = [f"top-k {sampling.top_k}"] if sampling.top_k is not None else []
    if sampling.top_p < 1:
        parts.append(f"top-p {sampling.top_p:g}")
    if sampling.min_p > 0:
        parts.append(f"min-p {sampling.min_p:g}")
    return ", ".join(parts)


@torch.inference_mode()
def tail_draws(
    model: MiniGPT,
    tokenizer: Tokenizer,
    prefix: str,
    sampling: SamplingConfig,
    count: int = 64,
    seed: int = 0,
) -> TailDraws:
    """Draw `count` tokens after `prefix` twice from the same seed: under the cut, and with the
    cut switched off (the whole vocabulary, same temperature)."""
    cut = cut_settings(sampling)
    uncut = replace(cut, top_k=None, top_p=1.0, min_p=0.0)
    runs = []
    for settings in (cut, uncut):
        session = GenerationSession(model, tokenizer, settings, seed)
        session.start(prefix)
        tokens, below, probs = [], [], []
        for _ in range(count):
            logits = session.pending_logits()  # (V,)
            context = session.ids[-model.config.block_size :]
            kept = ranked_distribution(logits, cut, context)
            kept_ids = {i for i, p in zip(kept.id_list, kept.prob_list, strict=True) if p > 0}
            model_probs = torch.softmax(logits.float(), -1)  # (V,)
            step = session.step()
            tokens.append(step.text)
            below.append(step.token_id not in kept_ids)
            probs.append(float(model_probs[step.token_id]))
        first = below.index(True) if True in below else None
        runs.append(TailRun(tokens, below, probs, first))
    return TailDraws(prefix, describe_cut(cut), cut.temperature, seed, runs[0], runs[1])
