"""Generation speed: prefill, cached and uncached decode, and one token's latency by position."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.bench.machine import read_bandwidth_gbs
from core.bench.timing import interleaved_ms
from core.config import Config, SamplingConfig
from core.device import resolve_device
from core.fast.auto_weights import FormatTiming, choose_weights, held_out_probe
from core.fast.decode import Decoder
from core.model import MiniGPT
from core.session import GenerationSession
from core.tokenizer import Tokenizer


@dataclass(frozen=True)
class PositionLatency:
    """Time of one forward pass for the token at `position`, with and without the cache."""

    position: int  # tokens before this one in the window
    cached_ms: float
    uncached_ms: float


@dataclass(frozen=True)
class DecodeRun:
    """One whole `GenerationSession.stream`: sampling, candidates and window slides included."""

    tokens_per_second: float  # new tokens over the run's wall time
    step_ms: float  # median wall time of one step, sampling included
    forward_ms: float  # median forward pass of one step, window slides left out


@dataclass(frozen=True)
class GenerationResult:
    """Prefill, decode and per-position latency of one model."""

    parameters: int
    block_size: int
    vocab_size: int
    new_tokens: int
    prefill_ms: float  # one forward over a full block into an empty cache
    token_by_token_ms: float  # the same block fed one position at a time through the cache
    cached: DecodeRun
    uncached: DecodeRun  # use_cache=False: every step recomputes the whole window
    latencies: tuple[PositionLatency, ...]
    decode_layout: str  # the weight layout the decoder measured fastest ("rows" or "columns")
    weight_bytes: int  # the matrices one decode step streams (embeddings are only indexed)
    read_gbs: float  # this machine's measured memory read bandwidth
    products_ms: float  # the decode step's matrix-vector products alone, in its layout
    weights: str  # the format `auto` chooses on the held-out text ("fp32" without it)
    formats: tuple[FormatTiming, ...]  # each format's decode step and quality cost

    @property
    def decode_ms(self) -> float:
        """One cached decode step at the middle position of the measured ones."""
        return self.latencies[len(self.latencies) // 2].cached_ms

    @property
    def streamed_gbs(self) -> float:
        """Weight bytes a decode step streams, over its time."""
        return self.weight_bytes / (self.decode_ms / 1000) / 1e9

    @property
    def floor_ms(self) -> float:
        """The memory-bandwidth floor: weight bytes over the measured read bandwidth."""
        return self.weight_bytes / (self.read_gbs * 1e9) * 1000

    @property
    def prefill_speedup(self) -> float:
        """How much faster one full-block forward is than feeding the block token by token."""
        return self.token_by_token_ms / self.prefill_ms

    @property
    def cache_speedup(self) -> float:
        return self.cached.tokens_per_second / self.uncached.tokens_per_second


def default_positions(block_size: int) -> list[int]:
    """8, a quarter, a half and the last position of a block, without repeats."""
    wanted = (8, block_size // 4, block_size // 2, block_size - 1)
    return sorted({min(max(p, 0), block_size - 1) for p in wanted})


def _decode_runs(
    model: MiniGPT, tokenizer: Tokenizer, new_tokens: int, turn_tokens: int = 25
) -> list[DecodeRun]:
    """Cached and uncached generation from an empty prompt, taking turns every `turn_tokens`.

    Each side runs warm, as in a real generation (a recomputation between two cached steps
    would evict what they read), while a burst of other load still lands on both sides and
    their ratio stays meaningful.
    """
    sampling = SamplingConfig(max_new_tokens=new_tokens)
    streams, step_seconds, forward_ms = [], [], []
    for use_cache in (True, False):
        warm = GenerationSession(model, tokenizer, sampling, seed=0, use_cache=use_cache)
        for _ in warm.stream("", min(8, new_tokens)):
            pass
        session = GenerationSession(model, tokenizer, sampling, seed=0, use_cache=use_cache)
        streams.append(session.stream("", new_tokens))
        step_seconds.append([])
        forward_ms.append([])
    for turn_start in range(0, new_tokens, turn_tokens):
        turn = min(turn_tokens, new_tokens - turn_start)
        for stream, seconds, forward in zip(streams, step_seconds, forward_ms, strict=True):
            for _ in range(turn):
                started = time.perf_counter()
                step = next(stream)
                seconds.append(time.perf_counter() - started)
                if not step.slid:
                    forward.append(step.forward_ms)
    return [
        DecodeRun(
            tokens_per_second=new_tokens / sum(seconds),
            step_ms=statistics.median(seconds[1:] or seconds) * 1000,  # [0] holds the prefill
            forward_ms=statistics.median(forward),
        )
        for seconds, forward in zip(step_seconds, forward_ms, strict=True)
    ]


@torch.inference_mode()
def bench_generation(
    model: MiniGPT,
    tokenizer: Tokenizer,
    new_tokens: int,
    positions: list[int] | None = None,
    seconds: float = 2.0,
    on_progress: Callable[[str], None] | None = None,
    text: str | None = None,
) -> GenerationResult:
    """Measure prefill, cached and uncached decode, and decode latency at several positions.

    `seconds` is the time spent on the prefill and latency measurements (at least 5 rounds).
    """
    if new_tokens < 1:
        raise ValueError(f"new_tokens must be >= 1, got {new_tokens}")
    model.eval()
    device = next(model.parameters()).device
    block_size = model.config.block_size
    positions = positions or default_positions(block_size)
    if any(not 0 <= p < block_size for p in positions):
        raise ValueError(f"positions must lie in [0, {block_size - 1}], got {positions}")
    generator = torch.Generator().manual_seed(0)
    block = torch.randint(model.vocab_size, (1, block_size), generator=generator).to(device)
    decoder = Decoder(model)  # the layout a session would use: measured fastest here
    prefill_cache = model.new_kv_cache()

    def prefill() -> None:
        prefill_cache.reset()
        model(block, kv_cache=prefill_cache)  # (1, T, V)

    def token_by_token() -> None:
        prefill_cache.reset()
        for token_id in block[0].tolist():
            decoder(token_id, prefill_cache)  # (V,)

    def decode_one(position: int) -> Callable[[], None]:
        cache = model.new_kv_cache()
        if position:
            model(block[:, :position], kv_cache=cache)  # (1, P, V)
        token_id = int(block[0, position])

        def run() -> None:
            decoder(token_id, cache)  # (V,)
            cache.rewind(1)

        return run

    def recompute_window(position: int) -> Callable[[], None]:
        window = block[:, : position + 1]  # (1, P + 1)
        return lambda: model(window)  # (1, P + 1, V)

    # each round: recomputations, then the cached runs back to back, as in a real decode;
    # a recomputation between two cached steps would evict the cache they read
    runs: dict[object, Callable[[], object]] = {
        (position, False): recompute_window(position) for position in positions
    }
    runs["prefill"] = prefill
    runs["token_by_token"] = token_by_token
    runs["products"] = decoder.products()
    for position in positions:
        runs[position, True] = decode_one(position)
    if on_progress is not None:
        on_progress(f"timing prefill and decode latency at positions {positions}")
    medians = interleaved_ms(runs, device, seconds)
    latencies = tuple(
        PositionLatency(position, medians[position, True], medians[position, False])
        for position in positions
    )

    if on_progress is not None:
        on_progress(f"generating {new_tokens} tokens with and without the cache, in turns")
    cached, uncached = _decode_runs(model, tokenizer, new_tokens)
    weights, formats = "fp32", ()
    if text is not None:
        if on_progress is not None:
            on_progress("timing each weight format's decode step and its validation loss")
        probe, characters = held_out_probe(tokenizer, text, block_size)
        weights, formats = choose_weights(model, probe.to(device), characters, min_bytes=0)
    return GenerationResult(
        parameters=model.num_parameters(),
        block_size=block_size,
        vocab_size=model.vocab_size,
        new_tokens=new_tokens,
        prefill_ms=medians["prefill"],
        token_by_token_ms=medians["token_by_token"],
        cached=cached,
        uncached=uncached,
        latencies=latencies,
        decode_layout=decoder.layout,
        weight_bytes=decoder.weight_bytes,
        read_gbs=read_bandwidth_gbs(device=device),
        products_ms=medians["products"],
        weights=weights,
        formats=formats,
    )


def untrained_model(
    config: Config, vocab_size: int, device: torch.device | str | None = None
) -> MiniGPT:
    """A freshly initialised MiniGPT in eval mode, seeded from config.seed."""
    torch.manual_seed(config.seed)
    return MiniGPT(config, vocab_size).to(resolve_device(device)).eval()
