"""Sampling never crashes: extreme settings, damaged logits, bad prompts, endless sessions."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    BPETokenizer,
    CharTokenizer,
    GenerationSession,
    MiniGPT,
    SamplingConfig,
    UserError,
    ranked_distribution,
    sample_next,
)
from core import session as session_module
from core.session import UNDO_STEPS

VOCAB = "\n abcdefghijklmnopqrstuvwxyz"
EVERY_TOKEN = "\nthe quick brown fox jumps over a lazy dog"  # the penalty sees every token


def _session(block_size: int = 32, **sampling) -> GenerationSession:
    torch.manual_seed(0)
    config = replace(PRESETS["tiny"], block_size=block_size)
    tokenizer = CharTokenizer(sorted(VOCAB))
    model = MiniGPT(config, tokenizer.vocab_size)
    return GenerationSession(model, tokenizer, SamplingConfig(**sampling))


@pytest.mark.parametrize(
    "sampling",
    [
        {"top_p": 1e-300},
        {"temperature": 1e-39},
        {"temperature": 5e-324, "top_k": None},
        {"repetition_penalty": 1e-39},
        {"repetition_penalty": 5e-324, "top_k": None},
        {"repetition_penalty": 1e39},
        {"repetition_penalty": 1e300, "top_k": None, "min_p": 0.5},
        {"repetition_penalty": 1e39, "temperature": 0},
        {"repetition_penalty": 1e-39, "temperature": 1e-39, "top_p": 1e-300},
    ],
)
def test_extreme_sampling_values_give_valid_tokens(sampling) -> None:
    session = _session(**sampling)
    steps = list(session.stream(EVERY_TOKEN, 40))
    vocab_size = session.tokenizer.vocab_size
    assert all(0 <= step.token_id < vocab_size for step in steps)
    assert all(0 < step.prob <= 1 and math.isfinite(step.entropy) for step in steps)
    assert all(math.isfinite(c.prob) for step in steps for c in step.candidates)


def test_huge_penalty_on_every_negative_logit_keeps_the_raw_ranking() -> None:
    logits = torch.tensor([-3.0, -1.0, -2.0])  # each one times 1e39 is -inf in float32
    ranked = ranked_distribution(logits, SamplingConfig(repetition_penalty=1e39), [0, 1, 2])
    assert ranked.id_list == [1] and ranked.prob_list == [1.0]


def test_tiny_penalty_pushing_several_logits_to_inf_picks_the_largest() -> None:
    logits = torch.tensor([1.0, 3.0, 2.0, 0.5])  # seen positives / 1e-39 overflow to inf
    ranked = ranked_distribution(logits, SamplingConfig(repetition_penalty=1e-39), [0, 2])
    assert ranked.id_list == [2] and ranked.prob_list == [1.0]


def test_tiny_temperature_is_greedy() -> None:
    logits = torch.tensor([0.5, -2.0, 1.5, 1.0])
    ranked = ranked_distribution(logits, SamplingConfig(temperature=1e-39, top_k=None))
    assert ranked.id_list == [2] and ranked.prob_list == [1.0]


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_nan_logits_raise_one_line(temperature) -> None:
    logits = torch.tensor([0.5, float("nan"), 1.0])
    with pytest.raises(UserError, match="damaged") as caught:
        ranked_distribution(logits, SamplingConfig(temperature=temperature))
    assert "\n" not in str(caught.value)


def test_damaged_weights_raise_one_line_at_start() -> None:
    session = _session()
    with torch.no_grad():
        session.model.head.weight[3, 0] = float("nan")
    with pytest.raises(UserError, match="load another checkpoint") as caught:
        session.start("ab")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "probs",
    [torch.zeros(5), torch.full((4,), float("nan")), torch.tensor([0.0, float("nan"), 0.3])],
)
def test_sample_next_on_a_broken_distribution_stays_in_range(probs) -> None:
    generator = torch.Generator().manual_seed(0)
    draws = {sample_next(probs, generator) for _ in range(50)}
    assert all(0 <= index < len(probs) for index in draws)


def test_sample_next_on_a_zero_sum_distribution_prefers_a_nonzero_entry() -> None:
    probs = torch.tensor([0.0, float("nan"), 0.3, 0.0])  # NaN poisons the running sum
    assert sample_next(probs, torch.Generator().manual_seed(0)) == 2


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_lone_surrogate_in_a_prompt_is_one_line(kind) -> None:
    if kind == "char":
        tokenizer = CharTokenizer(sorted(VOCAB))
    else:
        tokenizer = BPETokenizer.train("the quick brown fox " * 20, 260)
    session = GenerationSession(MiniGPT(PRESETS["tiny"], tokenizer.vocab_size), tokenizer)
    with pytest.raises(UserError, match="position 1") as caught:
        session.start("a\ud800b")
    assert "\n" not in str(caught.value)


def test_undo_history_stays_at_its_cap_and_rewinds_exactly_within_it(monkeypatch) -> None:
    cap = 200  # UNDO_STEPS, made small so the test is quick
    monkeypatch.setattr(session_module, "UNDO_STEPS", cap)
    session = _session(block_size=8, temperature=1.0)  # the window slides every 3 tokens
    session.start("ab")
    for _ in range(2 * cap):
        session.step()
    ids, text, expected = list(session.ids), session.text, session.distribution()
    for _ in range(cap):
        session.step()
    assert len(session.generated) == cap
    assert len(session._logits) == len(session._window_starts) == cap + 1
    again = session.rewind(cap)
    assert session.ids == ids and session.text == text
    assert [c.token_id for c in again.candidates] == [c.token_id for c in expected.candidates]
    assert [c.prob for c in again.candidates] == pytest.approx(
        [c.prob for c in expected.candidates], abs=1e-5
    )
    assert session.cache_length == session.context_length


def test_rewind_beyond_the_kept_history_says_how_many_can_be_undone() -> None:
    session = _session(block_size=64, temperature=0)
    session.start("ab")
    for _ in range(UNDO_STEPS + 5):
        session.step()
    assert len(session.generated) == UNDO_STEPS
    with pytest.raises(UserError, match=f"only the last {UNDO_STEPS} can be undone") as caught:
        session.rewind(UNDO_STEPS + 1)
    assert "\n" not in str(caught.value)
    assert len(session.ids) == 2 + UNDO_STEPS + 5
    session.rewind(UNDO_STEPS)
    assert len(session.ids) == 2 + 5 and not session.generated


def test_rewind_to_a_chat_turn_restores_its_window() -> None:
    session = _session(block_size=16, temperature=0)
    session.start("ab")
    for _ in range(20):  # past a slide, so the window no longer starts at 0
        session.step()
    turn = session.extend("cd")
    window_start = session._window_start
    session.step()
    session.step()
    assert session.rewind(2) == turn
    assert session._window_start == window_start and session.cache_length == session.context_length
