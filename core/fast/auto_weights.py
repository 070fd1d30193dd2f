"""`--weights auto`: the fastest weight format for a model's decode step whose quality cost,
measured on the model itself, is within `MAX_BPC_COST`."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from core.dataset import ValidationChunks
from core.fast.decode import Decoder
from core.fast.weight_formats import AUTO_MIN_BYTES, MAX_BPC_COST, available_formats, quality_costs
from core.model import MiniGPT
from core.sampling import sample_next
from core.tokenizer import Tokenizer


@dataclass(frozen=True)
class FormatTiming:
    """One format's cached decode step on a model, and what it costs in quality."""

    weights: str
    step_ms: float  # median of one decode step
    weight_bytes: int  # what one step streams
    bpc_cost: float  # bits per character it adds against fp32


_chosen: dict[tuple, tuple[str, tuple[FormatTiming, ...]]] = {}


def choose_weights(
    model: MiniGPT,
    probe: torch.Tensor | None = None,
    characters_per_token: float = 1.0,
    min_bytes: int = AUTO_MIN_BYTES,
) -> tuple[str, tuple[FormatTiming, ...]]:
    """The fastest format whose quality cost is within `MAX_BPC_COST`, and every format's
    figures; fp32 (unmeasured) for models too small for the bytes to matter.

    `probe` (N, T) is held-out text where the caller has it; without it the model samples its
    own, and the cost measured on it is then an estimate of KL(fp32 || format) per character.
    Measured once per process for the same weights and thread count."""
    formats = available_formats(model)
    if matrices_bytes(model) < min_bytes or len(formats) == 1:
        return "fp32", ()
    # the same weights (Generate's and Chat's copies too): the shape and a few of the values
    head = model.head.weight.detach()
    fingerprint = (float(head[0].sum()), float(head[-1].sum()), float(head[:, 0].sum()))
    key = (model.config, fingerprint, torch.get_num_threads(), probe is None)
    if key not in _chosen:
        decoder = Decoder(model, weights="fp32")
        if probe is None:
            probe = _own_text(model, decoder)
        built: dict = {}  # each matrix quantized once, for its decoder and the quality pass
        decoders = [decoder, *(Decoder(model, weights=w, built=built) for w in formats[1:])]
        step_ms = _step_ms(model, decoders)
        costs = quality_costs(model, formats, probe, characters_per_token, built)
        timings = tuple(
            FormatTiming(d.weights, ms, d.weight_bytes, cost)
            for d, ms, cost in zip(decoders, step_ms, costs, strict=True)
        )
        allowed = [t for t in timings if t.weights == "fp32" or t.bpc_cost <= MAX_BPC_COST]
        _chosen[key] = (min(allowed, key=lambda t: t.step_ms).weights, timings)
    return _chosen[key]


def matrices_bytes(model: MiniGPT) -> int:
    """What one fp32 decode step reads: every matrix of the attention, FeedForward and head."""
    return sum(
        module.weight.numel() * module.weight.element_size()
        for module in model.modules()
        if isinstance(module, nn.Linear)
    )


def held_out_probe(
    tokenizer: Tokenizer, text: str, block_size: int, count: int = 16
) -> tuple[torch.Tensor, float]:
    """Up to `count` chunks (N, block_size + 1) spread over the corpus's validation split, as
    training splits it, and the characters per target token in them."""
    chunks = ValidationChunks(tokenizer, text, block_size)
    count = max(1, min(count, len(chunks)))
    ids = torch.tensor([chunks.chunk(i * len(chunks) // count) for i in range(count)])
    characters = sum(len(tokenizer.decode(row[1:].tolist())) for row in ids)
    return ids, characters / (count * block_size)


def _own_text(model: MiniGPT, decoder, length: int = 128, seed: int = 0) -> torch.Tensor:
    """A sequence (1, T) the fp32 model samples itself at temperature 1."""
    generator = torch.Generator().manual_seed(seed)
    length = min(length, model.config.block_size)
    cache = model.new_kv_cache()
    ids = [0]
    for _ in range(length - 1):
        probabilities = torch.softmax(decoder(ids[-1], cache).float(), dim=-1)  # (V,)
        ids.append(sample_next(probabilities, generator))  # the sessions' own draw
    return torch.tensor([ids])


def _step_ms(model: MiniGPT, decoders: list, rounds: int = 4, run: int = 6) -> list[float]:
    """The median decode step of each decoder at the middle of the window. Each takes turns
    in runs of consecutive steps, as a session decodes: a torch step right after a numpy one
    (or the reverse) pays for the other's threads still spinning, which no session sees."""
    position = model.config.block_size // 2
    prefix = (torch.arange(position) % model.vocab_size).view(1, -1)  # (1, P)
    caches = []
    for _ in decoders:
        cache = model.new_kv_cache()
        model(prefix, kv_cache=cache)  # (1, P, V): the prefill, in fp32 as in a session
        caches.append(cache)
    seen: list[list[float]] = [[] for _ in decoders]
    for _ in range(rounds):
        for decoder, cache, times in zip(decoders, caches, seen, strict=True):
            for step in range(run):
                started = time.perf_counter()
                decoder(1, cache)
                if step >= 2:  # the first steps of a run pay for the switch
                    times.append((time.perf_counter() - started) * 1000)
                cache.rewind(1)
    return [statistics.median(times) for times in seen]
