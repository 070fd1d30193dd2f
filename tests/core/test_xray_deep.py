"""The deeper X-ray: inside a head, knockouts, the logit lens, the embedding and tokenizer lenses
and tail draws, each checked against the same thing computed by hand from the weights."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from core import (
    PRESETS,
    CharTokenizer,
    GenerationSession,
    MiniGPT,
    SamplingConfig,
    TrainingSession,
    UserError,
    build_tokenizer,
    cache_race,
    embedding_lens,
    fresh_model,
    head_ranking,
    inside_head,
    knockout,
    logit_lens,
    prediction_tape,
    size_model,
    tail_draws,
    token_lens,
)

TEXT = "To be, or not to be: that is the question."


def _model(**changes) -> tuple[MiniGPT, CharTokenizer]:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    config = replace(PRESETS["tiny"], **{"block_size": 64, **changes})
    model = MiniGPT(config, tokenizer.vocab_size).eval()
    with torch.no_grad():  # weights a little away from init, so every head matters
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model, tokenizer


def _embedded(model: MiniGPT, ids: list[int]) -> torch.Tensor:
    """The embeddings by hand: the token's row plus the position's row, (T, C)."""
    table = model.embeddings
    return table.token.weight[ids] + table.position.weight[: len(ids)]


def _layer_norm(module: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], module.weight, module.bias, module.eps)


@torch.no_grad()
def test_inside_head_matches_q_k_v_and_the_weighted_sum_by_hand() -> None:
    model, tokenizer = _model()
    query, head = 9, 1
    inside = inside_head(model, tokenizer, TEXT, layer=0, head=head, query=query)
    ids = tokenizer.encode(TEXT)
    block = model.blocks[0]
    x = _layer_norm(block.ln1, _embedded(model, ids))  # (T, C)
    width, size = model.config.embedding_dim, model.config.head_dim
    rows = slice(head * size, (head + 1) * size)
    weight = block.attention.qkv.weight  # (3C, C): queries, keys, values
    q = x[query] @ weight[:width][rows].T  # (D,)
    k = x[: query + 1] @ weight[width : 2 * width][rows].T  # (Q, D)
    v = x[: query + 1] @ weight[2 * width :][rows].T  # (Q, D)
    weights = torch.softmax(k @ q / math.sqrt(size), -1)  # (Q,)
    torch.testing.assert_close(torch.tensor(inside.q), q)
    torch.testing.assert_close(torch.tensor(inside.keys), k)
    torch.testing.assert_close(torch.tensor(inside.values), v)
    torch.testing.assert_close(torch.tensor(inside.weights), weights)
    torch.testing.assert_close(torch.tensor(inside.arrived), weights @ v)
    # what arrived is this head's slice of the concatenation the projection reads
    torch.testing.assert_close(torch.tensor(inside.heads[head]), weights @ v)
    projected = torch.tensor(inside.concatenated) @ block.attention.proj.weight.T  # (C,)
    torch.testing.assert_close(torch.tensor(inside.projected), projected)
    assert len(inside.concatenated) == inside.width == width


def test_inside_head_refuses_a_query_past_the_text() -> None:
    model, tokenizer = _model()
    with pytest.raises(UserError, match="query must be in 0..4"):
        inside_head(model, tokenizer, "To be", query=5)


def test_knockout_equals_a_model_with_that_heads_projection_zeroed() -> None:
    model, tokenizer = _model()
    heads = [(1, 0), (0, 1)]
    result = knockout(model, tokenizer, TEXT, heads)
    zeroed = copy.deepcopy(model)
    size = model.config.head_dim
    with torch.no_grad():
        for layer, head in heads:  # the projection's inputs from that head: its D columns
            zeroed.blocks[layer].attention.proj.weight[:, head * size : (head + 1) * size] = 0
    wanted = prediction_tape(zeroed, tokenizer, TEXT)
    assert result.knocked == pytest.approx(wanted.losses, abs=1e-5)
    assert result.knocked_mean == pytest.approx(wanted.mean_loss, abs=1e-5)
    assert result.losses == pytest.approx(prediction_tape(model, tokenizer, TEXT).losses)
    pairs = zip(result.losses, result.knocked, strict=True)
    assert result.changes == pytest.approx([knocked - base for base, knocked in pairs])
    # the hooks are gone afterwards: the model predicts as before
    assert prediction_tape(model, tokenizer, TEXT).losses == pytest.approx(result.losses)


def test_head_ranking_orders_every_head_by_its_knockout_rise() -> None:
    model, tokenizer = _model()
    ranking = head_ranking(model, tokenizer, TEXT)
    config = model.config
    assert len(ranking) == config.num_layers * config.num_heads
    rises = [rise for *_, rise in ranking]
    assert rises == sorted(rises, reverse=True)
    layer, head, rise = ranking[0]
    assert knockout(model, tokenizer, TEXT, [(layer, head)]).mean_change == pytest.approx(rise)


@torch.no_grad()
def test_logit_lens_decodes_the_stream_as_by_hand_and_ends_at_the_model_output() -> None:
    model, tokenizer = _model()
    lens = logit_lens(model, tokenizer, TEXT)
    ids = tokenizer.encode(TEXT)
    inputs, targets = ids[:-1], torch.tensor(ids[1:])
    stream = _embedded(model, inputs)  # (T, C)
    probs = torch.softmax(_layer_norm(model.ln_final, stream) @ model.head.weight.T, -1)
    first = lens.layers[0]
    assert first.name == "embeddings"
    torch.testing.assert_close(torch.tensor(first.target_probs), probs[range(len(inputs)), targets])
    assert first.guesses == [tokenizer.decode([i]) for i in probs.argmax(-1).tolist()]
    tape = prediction_tape(model, tokenizer, TEXT)
    assert [layer.name for layer in lens.layers] == ["embeddings", "block 1", "block 2"]
    assert lens.layers[-1].target_probs == pytest.approx(tape.target_probs, abs=1e-5)
    assert lens.layers[-1].mean_loss == pytest.approx(tape.mean_loss, abs=1e-5)
    block = model.blocks[0]
    attended = block.attention(_layer_norm(block.ln1, stream)[None])[0]  # (T, C)
    assert lens.added[0].attention == pytest.approx(float(attended.norm(dim=-1).mean()), rel=1e-4)
    assert lens.added[0].stream == pytest.approx(float(stream.norm(dim=-1).mean()), rel=1e-4)


def test_a_fresh_model_adds_little_to_its_stream() -> None:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    model = MiniGPT(replace(PRESETS["tiny"], block_size=64), tokenizer.vocab_size).eval()
    lens = logit_lens(model, tokenizer, TEXT)
    for added in lens.added:  # small residual branches at init: a near-identity
        assert added.attention < 0.3 * added.stream and added.ffn < 0.3 * added.stream


@torch.no_grad()
def test_embedding_lens_cosines_match_the_tables() -> None:
    model, tokenizer = _model()
    lens = embedding_lens(model, tokenizer, "t", count=5, positions=10)
    positions = torch.tensor(lens.positions)
    assert positions.shape == (10, 10)
    torch.testing.assert_close(positions.diagonal(), torch.ones(10))
    table = F.normalize(model.embeddings.token.weight, dim=-1)
    cosines = table @ table[tokenizer.encode("t")[0]]
    best, value = lens.neighbours[0]
    assert best != "t" and value == pytest.approx(float(cosines[tokenizer.encode(best)[0]]))
    values = [v for _, v in lens.neighbours]
    assert values == sorted(values, reverse=True) and len(values) == 5
    assert lens.farthest[0][1] == pytest.approx(float(cosines.min()))


def test_embedding_lens_without_a_position_table_has_no_matrix() -> None:
    model, tokenizer = _model(position_embedding=False)
    assert embedding_lens(model, tokenizer, "t").positions == []


def test_tokenizer_lens_marks_unknown_characters_and_splits_bytes() -> None:
    corpus = TEXT * 20
    tokenizers = {
        "char": build_tokenizer("char", corpus),
        "bpe": build_tokenizer("bpe", corpus, 300),
    }
    char, bpe = token_lens("the thé", tokenizers, 64)  # é: not in the corpus
    assert char.tokens == list("the thé") and char.unknown == [6]
    assert "'é'" in char.verdict and "refuse" in char.verdict
    assert char.token_bytes[6] == "c3 a9"
    joined = bytes.fromhex("".join(bpe.token_bytes).replace(" ", ""))
    assert joined == "the thé".encode() and bpe.unknown == []
    assert "bytes" in bpe.verdict


def test_sizing_shows_the_shape_journey_after_a_width_change() -> None:
    config = replace(PRESETS["tiny"], embedding_dim=32)
    sizing = size_model(config, 40, measure_steps=0)
    shapes = {stage.stage: stage.shape for stage in sizing.journey}
    assert shapes["Embeddings"][-1] == 32
    assert shapes["SingleHeadAttention"][-1] == 32 // config.num_heads


def test_tail_draws_never_draw_below_the_cut_with_it_and_mark_it_without() -> None:
    model, tokenizer = _model()
    sampling = SamplingConfig(temperature=2.0, top_k=2)
    draws = tail_draws(model, tokenizer, "To be", sampling, count=40, seed=3)
    assert draws.cut == "top-k 2" and draws.with_cut.below_count == 0
    assert draws.with_cut.first_below is None
    without = draws.without_cut
    assert without.below_count > 0
    assert without.first_below == without.below_cut.index(True)
    assert len(without.tokens) == len(without.probs) == 40


def test_tail_draws_of_a_greedy_setting_compare_against_the_default_cut() -> None:
    model, tokenizer = _model()
    draws = tail_draws(model, tokenizer, "To be", SamplingConfig(temperature=0, top_k=None), 5)
    assert draws.cut == "top-k 40" and draws.temperature == 1.0


def test_tail_draws_with_the_cut_are_what_a_session_with_that_seed_draws() -> None:
    model, tokenizer = _model()
    sampling = SamplingConfig(temperature=1.5, top_k=3)
    draws = tail_draws(model, tokenizer, "To be", sampling, count=30, seed=5)
    session = GenerationSession(model, tokenizer, replace(sampling, num_candidates=1), 5)
    assert draws.with_cut.tokens == [step.text for step in session.stream("To be", 30)]


def test_tail_draws_agree_until_the_first_draw_from_below_the_cut() -> None:
    model, tokenizer = _model()
    sampling = SamplingConfig(temperature=1.5, top_p=0.6, top_k=None)
    for seed in range(4):
        draws = tail_draws(model, tokenizer, "To be", sampling, count=40, seed=seed)
        first = draws.without_cut.first_below
        assert first is not None  # a cut at 0.6 of the mass is crossed within 40 draws
        assert draws.with_cut.tokens[:first] == draws.without_cut.tokens[:first]
        assert draws.with_cut.tokens[first] != draws.without_cut.tokens[first]


def test_fresh_model_is_the_weights_training_starts_from(tiny_config, text) -> None:
    trained, _ = _model()
    config = replace(tiny_config, seed=7)
    session = TrainingSession(config, text, "cpu")
    shaped = MiniGPT(config, session.tokenizer.vocab_size)
    state = torch.get_rng_state()
    fresh = fresh_model(shaped)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's draws go on unchanged
    for name, tensor in session.model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], tensor, rtol=0, atol=0)
    assert not torch.equal(fresh_model(trained).head.weight, trained.head.weight)


def test_outside_window_is_the_text_the_model_no_longer_reads() -> None:
    model, tokenizer = _model(block_size=8)
    session = GenerationSession(model, tokenizer, SamplingConfig(temperature=1.0))
    session.start("To be")
    assert session.outside_window == ""
    for _ in range(12):  # past the block: the window slides
        session.step()
    left = session.outside_window
    assert left and session.text.startswith(left)
    assert len(session.text) - len(left) == session.context_length  # one character a token


def test_cache_race_names_each_slide_once() -> None:
    model, tokenizer = _model(block_size=16)
    session = GenerationSession(model, tokenizer, SamplingConfig(temperature=0))
    session.start("To be")
    *_, last = cache_race(session)
    assert last.slides and all(position >= 16 for position in last.slides)
    assert len(last.slides) < len([p for p in last.positions if p >= 16])
