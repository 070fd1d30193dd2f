"""The format race: the same greedy text decoded with the weights read as fp32, bf16 and int8,
taking turns step by step: bytes read per token, ms per token, each format's floor (its bytes
at the machine's read bandwidth), the bits per character it costs, and whether its greedy
tokens stay those of fp32."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.bench.machine import read_bandwidth_gbs
from core.fast.auto_weights import choose_weights
from core.fast.decode import Decoder
from core.session import GenerationSession

RACE_TOKENS = 64
_bandwidth: list[float] = []  # measured once per process: a second of streaming memory


@dataclass(frozen=True)
class FormatLane:
    """One format's greedy decode from the prompt."""

    weights: str  # "fp32", "bf16" or "int8"
    bytes_per_token: int  # the matrices one decode step reads
    ms_per_token: float  # median decode step in this race
    floor_ms: float  # bytes_per_token at the measured read bandwidth
    bpc_cost: float  # bits per character it adds against fp32 (on the model's own samples)
    first_difference: int | None  # position where its greedy tokens first left fp32's
    text: str  # what it wrote


@dataclass(frozen=True)
class FormatRaceResult:
    lanes: tuple[FormatLane, ...]
    tokens: int  # greedy tokens each lane decoded
    read_gbs: float
    chosen: str  # what --weights auto takes for this model here

    def lane(self, weights: str) -> FormatLane | None:
        return next((lane for lane in self.lanes if lane.weights == weights), None)


def machine_read_gbs() -> float:
    if not _bandwidth:
        _bandwidth.append(read_bandwidth_gbs(megabytes=256, seconds=0.5))
    return _bandwidth[0]


@torch.inference_mode()
def format_race(
    session: GenerationSession,
    stop: Callable[[], bool] = lambda: False,
    tokens: int = RACE_TOKENS,
) -> FormatRaceResult | None:
    """Race every weight format this machine can run, greedy from the session's prompt (its
    last half-window when longer); None for a design without the one-token decoder."""
    model = session.model
    if not model.config.standard or next(model.parameters()).device.type != "cpu":
        return None
    block_size = model.config.block_size
    prompt = session.ids[: session.prompt_length][-(block_size // 2) :] or [0]
    tokens = max(1, min(tokens, block_size - len(prompt)))
    chosen, timings = choose_weights(model, min_bytes=0)
    if not timings:  # fp32 is all this build offers
        return None
    read_gbs = machine_read_gbs()
    decoders = [Decoder(model, weights=timing.weights) for timing in timings]
    caches, last_logits = [], []
    for _ in decoders:
        cache = model.new_kv_cache()
        last_logits.append(model(torch.tensor([prompt]), kv_cache=cache)[0, -1])  # (V,)
        caches.append(cache)
    written: list[list[int]] = [[int(logits.argmax())] for logits in last_logits]
    seen: list[list[float]] = [[] for _ in decoders]
    for _ in range(tokens - 1):
        if stop():
            break
        for decoder, cache, ids, times in zip(decoders, caches, written, seen, strict=True):
            started = time.perf_counter()
            logits = decoder(ids[-1], cache)  # (V,)
            times.append((time.perf_counter() - started) * 1000)
            ids.append(int(logits.argmax()))
    reference = written[0]
    lanes = []
    for timing, ids, times in zip(timings, written, seen, strict=True):
        pairs = enumerate(zip(ids, reference, strict=True))
        difference = next((len(prompt) + i for i, (a, b) in pairs if a != b), None)
        lanes.append(
            FormatLane(
                weights=timing.weights,
                bytes_per_token=timing.weight_bytes,
                ms_per_token=statistics.median(times) if times else timing.step_ms,
                floor_ms=timing.weight_bytes / 1e9 / read_gbs * 1000,
                bpc_cost=timing.bpc_cost,
                first_difference=difference,
                text=session.tokenizer.decode(ids),
            )
        )
    return FormatRaceResult(tuple(lanes), len(reference), read_gbs, chosen)
