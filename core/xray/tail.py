"""Tail draws: the same prefix, seed and temperature sampled with the top-k/top-p cut and
without it, and every token the uncut run drew from below the cut marked. The two runs share
their random numbers, so their texts agree until the uncut one first draws from the tail."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from core.config import MAX_SEED, SamplingConfig
from core.model import MiniGPT
from core.sampling import draw_at
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
    """Draw `count` tokens after `prefix` twice: under the cut, exactly as a session seeded with
    `seed` draws them, and with the cut switched off (the whole vocabulary, same temperature).

    The runs are coupled: at each step the uncut run takes the same token as the cut one with
    probability the mass the cut keeps, else a token from below the cut. Each run is still an
    honest draw from its own distribution, and the texts part exactly where the tail was drawn.
    """
    cut = cut_settings(sampling)
    uncut = replace(cut, top_k=None, top_p=1.0, min_p=0.0)
    sessions = [GenerationSession(model, tokenizer, settings, seed) for settings in (cut, uncut)]
    for session in sessions:
        session.start(prefix)
    draws = torch.Generator().manual_seed(seed)  # the cut run's, as its session's generator
    coins = torch.Generator().manual_seed((seed + 1) % (MAX_SEED + 1))  # tail or not
    runs: list[tuple[list[str], list[bool], list[float]]] = [([], [], []), ([], [], [])]
    for _ in range(count):
        uniform = float(torch.rand((), generator=draws))
        coin = float(torch.rand((), generator=coins))
        for session, (tokens, below, probs) in zip(sessions, runs, strict=True):
            drawn = session.ranked(session.sampling)  # what this run draws from
            kept = session.ranked(cut)  # the cut, in this run's own context
            kept_ids = {i for i, p in zip(kept.id_list, kept.prob_list, strict=True) if p > 0}
            point = uniform
            if session is sessions[1]:
                mass = sum(
                    p for i, p in zip(drawn.id_list, drawn.prob_list, strict=True) if i in kept_ids
                )
                # the sorted ranking puts the kept tokens first: a point below `mass` picks the
                # token the cut run picks from the same uniform, one above it the tail
                point = uniform * mass if coin < mass else mass + (1 - mass) * uniform
            token_id = drawn.id_list[draw_at(drawn.probs, point)]
            model_probs = torch.softmax(session.pending_logits().float(), -1)  # (V,)
            step = session.step(force=token_id)
            tokens.append(step.text)
            below.append(token_id not in kept_ids)
            probs.append(float(model_probs[token_id]))
    tails = [
        TailRun(tokens, below, probs, below.index(True) if True in below else None)
        for tokens, below, probs in runs
    ]
    return TailDraws(prefix, describe_cut(cut), cut.temperature, seed, tails[0], tails[1])
