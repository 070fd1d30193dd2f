"""Chat turns: taking the last turn back returns the conversation, cache and window to what
they were before it; reseeding repeats the draws."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core import PRESETS, CharTokenizer, GenerationSession, MiniGPT, SamplingConfig, UserError

VOCAB = "\n abcdefghijklmnopqrstuvwxyz"


def _session(block_size: int = 64, use_cache: bool = True, **sampling) -> GenerationSession:
    torch.manual_seed(0)
    config = replace(PRESETS["tiny"], block_size=block_size)
    tokenizer = CharTokenizer(sorted(VOCAB))
    model = MiniGPT(config, tokenizer.vocab_size)
    sampling = {"temperature": 0.0, **sampling}
    return GenerationSession(model, tokenizer, SamplingConfig(**sampling), use_cache=use_cache)


def _chat(session: GenerationSession, line: str, tokens: int = 12) -> str:
    return "".join(step.text for step in session.reply(line, max_new_tokens=tokens))


def _window_logits(session: GenerationSession) -> torch.Tensor:
    window = torch.tensor([session.ids[session._window_start :]])  # (1, T)
    return session.model(window)[0, -1]  # (V,)


@pytest.mark.parametrize("use_cache", [True, False])
def test_take_back_returns_the_line_and_the_conversation_before_it(use_cache: bool) -> None:
    session = _session(use_cache=use_cache)
    _chat(session, "ab")
    ids, logits = list(session.ids), session.pending_logits().clone()
    prompt_length = session.prompt_length
    _chat(session, "cd")
    assert session.take_back() == "cd"
    assert session.ids == ids and session.prompt_length == prompt_length
    torch.testing.assert_close(session.pending_logits(), logits, atol=1e-5, rtol=1e-4)
    assert session.cache_length == (session.context_length if use_cache else 0)
    assert session.generated == () and session.turns == 1


def test_a_conversation_after_a_take_back_matches_one_that_never_had_the_turn() -> None:
    edited, straight = _session(), _session()
    _chat(edited, "ab")
    _chat(edited, "cd", tokens=30)
    edited.take_back()
    _chat(straight, "ab")
    assert _chat(edited, "ce") == _chat(straight, "ce")  # greedy: the same words
    assert edited.ids == straight.ids
    torch.testing.assert_close(edited.pending_logits(), straight.pending_logits())


def test_take_back_across_a_slid_window_reads_the_old_window_again() -> None:
    session = _session(block_size=16)
    _chat(session, "abc", tokens=4)
    ids, start = list(session.ids), session._window_start
    _chat(session, "hello there", tokens=30)  # well past the block: the window slides
    assert session._window_start > start
    session.take_back()
    assert session.ids == ids and session._window_start == start
    assert session.cache_length == session.context_length
    torch.testing.assert_close(
        session.pending_logits(), _window_logits(session), atol=1e-5, rtol=1e-4
    )


def test_taking_back_the_first_turn_empties_the_conversation() -> None:
    session = _session()
    _chat(session, "ab")
    assert session.take_back() == "ab"
    assert session.ids == [] and session.cache_length == 0 and session.turns == 0


def test_turns_go_back_one_at_a_time_until_none_is_left() -> None:
    session = _session()
    for line in ("ab", "cd", "ef"):
        _chat(session, line)
    assert [session.take_back() for _ in range(3)] == ["ef", "cd", "ab"]
    with pytest.raises(UserError, match="no chat turn to take back"):
        session.take_back()


def test_a_refused_line_leaves_no_turn_to_take_back() -> None:
    session = _session()
    _chat(session, "ab")
    ids = list(session.ids)
    with pytest.raises(ValueError):
        _chat(session, "aZ")  # Z is not in the vocabulary
    assert session.turns == 1 and session.ids == ids


def test_reset_and_a_new_prompt_forget_the_turns() -> None:
    session = _session()
    _chat(session, "ab")
    session.reset()
    assert session.turns == 0
    _chat(session, "ab")
    session.start("cd")
    assert session.turns == 0


def test_only_the_last_undo_turns_are_kept(monkeypatch) -> None:
    monkeypatch.setattr("core.chat.UNDO_TURNS", 2)
    session = _session()
    for line in ("ab", "cd", "ef"):
        _chat(session, line, tokens=2)
    assert session.turns == 2
    assert [session.take_back() for _ in range(2)] == ["ef", "cd"]


def test_reseed_draws_what_a_new_session_with_that_seed_draws() -> None:
    sampling = {"temperature": 1.0, "top_k": None}
    session = _session(**sampling)
    first = "".join(step.text for step in session.stream("ab", 30))
    session.reseed(7)
    again = "".join(step.text for step in session.stream("ab", 30))
    fresh = _session(**sampling)
    fresh.reseed(7)
    assert again == "".join(step.text for step in fresh.stream("ab", 30))
    session.reseed(0)
    assert "".join(step.text for step in session.stream("ab", 30)) == first


def test_reseed_refuses_a_seed_torch_cannot_take() -> None:
    with pytest.raises(UserError, match="seed must be an integer"):
        _session().reseed(-1)
