"""The cache race: greedy tokens with and without the KV cache, timed step by step, as plain
values for the studio."""

from __future__ import annotations

from dataclasses import replace

import torch

from core import PRESETS, CharTokenizer, GenerationSession, MiniGPT, cache_race

VOCAB = "\n abcdefghijklmnopqrstuvwxyz"


def _session(prompt: str = "hello") -> GenerationSession:
    torch.manual_seed(0)
    tokenizer = CharTokenizer(sorted(VOCAB))
    model = MiniGPT(replace(PRESETS["tiny"], block_size=16), tokenizer.vocab_size)
    session = GenerationSession(model, tokenizer)
    session.start(prompt)
    return session


def test_cache_race_gives_the_same_greedy_tokens_past_a_window_slide() -> None:
    results = list(cache_race(_session()))
    last = results[-1]
    assert last.done and not any(r.done for r in results[:-1])
    assert len(last.positions) == len(last.cached_ms) == len(last.uncached_ms) == last.planned
    assert last.planned == 16 + 16 // 2 - len("hello")  # on past the block: the window slides
    assert last.first_difference is None
    assert last.cache_length <= last.block_size == 16


def test_cache_bytes_are_every_layers_keys_and_values_per_position() -> None:
    session = _session()
    config = session.model.config
    element = session.model.head.weight.element_size()  # the cache holds the model's dtype
    last = list(cache_race(session))[-1]
    assert last.cache_bytes_per_token == 2 * config.num_layers * config.embedding_dim * element
    assert last.cache_bytes == last.cache_bytes_per_token * last.cache_length


def test_a_stopped_cache_race_ends_done_with_what_it_raced() -> None:
    steps = iter(range(100))
    results = list(cache_race(_session(), stop=lambda: next(steps) >= 3))
    assert [len(r.positions) for r in results] == [1, 2, 3, 3]
    assert results[-1].done and results[-1].planned > 3


def test_cache_race_leaves_the_session_it_started_from_alone() -> None:
    session = _session()
    ids, cache_length = list(session.ids), session.cache_length
    list(cache_race(session))
    assert session.ids == ids and session.cache_length == cache_length
