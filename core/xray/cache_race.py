"""The cache race: greedy generation from a session's prompt with and without the KV cache, on
the same weights: ms per token against position both ways, the cache's bytes, and whether the
tokens agree."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from core.config import SamplingConfig
from core.session import GenerationSession

MAX_TOKENS = 256


@dataclass(frozen=True)
class CacheRaceResult:
    """Both paths so far, one entry per generated token, as plain values."""

    positions: tuple[int, ...]
    cached_ms: tuple[float, ...]  # the forward pass of each step through the KV cache
    uncached_ms: tuple[float, ...]  # the same step recomputing the whole window
    first_difference: int | None  # position where the tokens first differed
    planned: int  # tokens each path will generate
    block_size: int
    cache_bytes_per_token: float  # keys and values of every layer for one position
    cache_length: int  # positions the cache holds at the end (the uncached path holds none)
    done: bool  # the race is over: every planned token raced, or it was stopped
    slides: tuple[int, ...] = ()  # positions whose step slid the window (a re-prefill)

    @property
    def cache_bytes(self) -> float:
        """What the cache holds now."""
        return self.cache_bytes_per_token * self.cache_length

    @property
    def cached_median_ms(self) -> float:
        return statistics.median(self.cached_ms)

    @property
    def uncached_median_ms(self) -> float:
        return statistics.median(self.uncached_ms)


def cache_race(
    session: GenerationSession, stop: Callable[[], bool] = lambda: False
) -> Iterator[CacheRaceResult]:
    """Greedy tokens from the session's prompt, both paths taking turns step by step (so load
    on the machine hits both alike), on two sessions of their own. Yields after every token;
    the last result is marked done."""
    tokenizer, model = session.tokenizer, session.model
    prompt = tokenizer.decode(session.ids[: session.prompt_length])
    block_size = model.config.block_size
    planned = max(8, min(MAX_TOKENS, block_size + block_size // 2 - session.prompt_length))
    greedy = SamplingConfig(temperature=0, num_candidates=1)
    cached = GenerationSession(model, tokenizer, greedy, use_cache=True)
    uncached = GenerationSession(model, tokenizer, greedy, use_cache=False)
    cached.start(prompt)
    uncached.start(prompt)
    cache = cached.cache
    per_token = (cache.keys.nbytes + cache.values.nbytes) / cache.capacity
    positions, fast, slow, slides = [], [], [], []
    difference, result = None, None
    for _ in range(planned):
        if stop():
            break
        a, b = cached.step(), uncached.step()
        positions.append(a.position)
        fast.append(a.forward_ms)
        slow.append(b.forward_ms)
        if a.slid:
            slides.append(a.position)
        if difference is None and a.token_id != b.token_id:
            difference = a.position
        result = CacheRaceResult(
            tuple(positions),
            tuple(fast),
            tuple(slow),
            difference,
            planned,
            block_size,
            per_token,
            cached.cache_length,
            len(positions) == planned,
            tuple(slides),
        )
        yield result
    if result is not None and not result.done:  # stopped early: over all the same
        yield replace(result, done=True)
