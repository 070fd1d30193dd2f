"""The whole-vocabulary ranking behind the candidate panel: the draw's own distribution first,
then what the cuts removed, with the model's logits and the stage that made the cut."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    CharTokenizer,
    GenerationSession,
    MiniGPT,
    SamplingConfig,
    ranked_distribution,
)

VOCAB = "\n abcdefghijklmnopqrstuvwxyz"


def _session(**sampling) -> GenerationSession:
    torch.manual_seed(0)
    tokenizer = CharTokenizer(sorted(VOCAB))
    model = MiniGPT(replace(PRESETS["tiny"], block_size=16), tokenizer.vocab_size)
    return GenerationSession(model, tokenizer, SamplingConfig(**sampling))


@pytest.mark.parametrize(
    "sampling",
    [{"top_k": 5}, {"top_k": None, "top_p": 0.5}, {"temperature": 0.0}, {"top_k": None}],
)
def test_ranking_starts_with_the_distribution_the_draw_uses(sampling) -> None:
    session = _session(**sampling)
    ranking = session.start("hello").ranking
    ranked = ranked_distribution(session.pending_logits(), session.sampling)
    probs, ids = ranked.probs, ranked.ids
    assert ranking.token_ids[: len(ids)] == tuple(ids.tolist())
    assert ranking.probs[: len(ids)] == pytest.approx(probs.tolist())
    assert all(p == 0 for p in ranking.probs[len(ids) :])


def test_ranking_lists_every_token_of_the_vocabulary_once() -> None:
    session = _session(top_k=3)
    ranking = session.start("hello").ranking
    assert sorted(ranking.token_ids) == list(range(len(VOCAB)))
    assert ranking.tokens == tuple(session.token_text(i) for i in ranking.token_ids)


def test_ranking_past_the_cut_follows_the_logits() -> None:
    session = _session(top_k=3)
    ranking = session.start("hello").ranking
    assert list(ranking.logits) == sorted(ranking.logits, reverse=True)


def test_ranking_logits_are_the_models_raw_logits() -> None:
    session = _session(temperature=0.5, top_k=4)
    ranking = session.start("hello").ranking
    idx = torch.tensor([session.tokenizer.encode("hello")])
    expected = session.model(idx)[0, -1]  # (V,)
    shown = torch.tensor(ranking.logits)
    torch.testing.assert_close(shown, expected[list(ranking.token_ids)], atol=1e-5, rtol=1e-4)


def test_kept_counts_the_nonzero_probabilities_and_top_k_makes_the_cut() -> None:
    ranking = _session(top_k=5).start("hello").ranking
    assert ranking.kept == sum(p > 0 for p in ranking.probs) == 5
    assert ranking.cut == "top-k"


def test_top_p_cut_is_named_top_p() -> None:
    ranking = _session(top_k=None, top_p=0.3).start("hello").ranking
    assert 1 <= ranking.kept < len(VOCAB)
    assert ranking.kept == sum(p > 0 for p in ranking.probs)
    assert ranking.cut == "top-p"


def test_min_p_cut_is_named_min_p() -> None:
    ranking = _session(top_k=None, temperature=0.3, min_p=0.5).start("hello").ranking
    assert ranking.kept < len(VOCAB)
    assert ranking.cut == "min-p"


def test_nothing_cut_means_no_cut_line() -> None:
    ranking = _session(top_k=None, top_p=1.0).start("hello").ranking
    assert ranking.kept == len(VOCAB) and ranking.cut is None


def test_greedy_ranking_keeps_the_argmax_and_ranks_the_rest_by_softmax() -> None:
    session = _session(temperature=0.0)
    ranking = session.start("hello").ranking
    logits = session.pending_logits()
    assert ranking.kept == 1 and ranking.cut == "greedy"
    assert ranking.token_ids[0] == int(logits.argmax())
    assert ranking.probs[0] == 1.0
    raw = torch.softmax(logits, dim=-1)[list(ranking.token_ids)]  # (V,)
    assert ranking.uncut == pytest.approx(raw.tolist(), abs=1e-6)
    assert list(ranking.uncut) == sorted(ranking.uncut, reverse=True)


def test_forcing_a_token_past_the_cut_records_its_rank_and_probability_zero() -> None:
    session = _session(top_k=3)
    ranking = session.start("hello").ranking
    step = session.step(force=ranking.token_ids[11])
    assert (step.token_id, step.rank, step.prob) == (ranking.token_ids[11], 12, 0.0)


def test_a_sampled_token_records_its_rank_in_the_ranking() -> None:
    session = _session(top_k=None, temperature=2.0)
    ranking = session.start("hello").ranking
    ranks = []
    for _ in range(20):
        step = session.step()
        assert ranking.token_ids[step.rank - 1] == step.token_id
        assert ranking.probs[step.rank - 1] == pytest.approx(step.prob)
        ranks.append(step.rank)
        ranking = session.distribution().ranking
    assert max(ranks) > 1  # a flat distribution: not only the argmax is drawn


def test_ranking_names_the_stage_that_removed_each_token() -> None:
    ranking = _session(top_k=8, top_p=0.5).start("hello").ranking
    kept = ranking.kept
    assert 1 <= kept < 8
    assert ranking.removed_by[:kept] == (None,) * kept
    assert set(ranking.removed_by[kept:8]) == {"top-p"}
    assert set(ranking.removed_by[8:]) == {"top-k"}
    cuts = {cut.stage: cut.tokens for cut in ranking.cuts}
    assert (cuts["top-k"], cuts["top-p"]) == (len(VOCAB) - 8, 8 - kept)


def test_ranking_columns_are_each_tokens_value_at_every_stage() -> None:
    session = _session(temperature=0.5, top_k=None)
    ranking = session.start("hello").ranking
    logits = session.pending_logits()  # (V,)
    order = list(ranking.token_ids)
    model_probs = torch.softmax(logits.double(), -1)[order]  # (V,)
    assert ranking.model_probs == pytest.approx(model_probs.tolist(), abs=1e-9)
    assert ranking.scaled == pytest.approx((logits / 0.5)[order].tolist(), abs=1e-5)


def test_a_penalty_overflowing_to_minus_inf_is_named_as_the_cut() -> None:
    session = _session(top_k=None, repetition_penalty=1e39)
    ranking = session.start("hello").ranking
    logits = session.pending_logits()  # (V,)
    seen = set(session.ids)
    pushed_out = {i for i in seen if logits[i] < 0}  # negative x 1e39 is -inf in float32
    assert pushed_out and len(pushed_out) < len(seen)  # positives stay finite: no fallback
    assert ranking.cut == "repetition penalty"
    assert set(ranking.token_ids[ranking.kept :]) == pushed_out
