"""Generation: KV cache against full recomputation, the sampling stages, the session."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    STAGES,
    CharTokenizer,
    Decoder,
    GenerationSession,
    MiniGPT,
    SamplingConfig,
    TrainingSession,
    apply_min_p,
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    ranked_distribution,
    sample_next,
    sampling_distribution,
)
from core.tokenizer import BPETokenizer

VOCAB = "\n abcdefghijklmnopqrstuvwxyz"


def _session(block_size: int = 16, use_cache: bool = True, **sampling) -> GenerationSession:
    torch.manual_seed(0)
    config = replace(PRESETS["tiny"], block_size=block_size)
    tokenizer = CharTokenizer(sorted(VOCAB))
    model = MiniGPT(config, tokenizer.vocab_size)
    return GenerationSession(model, tokenizer, SamplingConfig(**sampling), use_cache=use_cache)


def test_kv_cache_decode_matches_full_forward() -> None:
    session = _session(block_size=16)
    session.start("hello")
    steps = 3 * 16  # well past block_size: the window slides several times
    slides = 0
    for _ in range(steps):
        step = session.step()
        slides += step.slid
        window = torch.tensor([session.ids[session._window_start :]])
        expected = session.model(window)[0, -1]
        torch.testing.assert_close(session._logits[-1], expected, atol=1e-5, rtol=1e-4)
    assert slides >= 3
    assert session.cache_length == session.context_length <= 16


@pytest.mark.parametrize("layout", ["rows", "columns", "numpy", "auto"])
def test_decoder_matches_forward_at_every_position(layout: str) -> None:
    torch.manual_seed(0)
    model = MiniGPT(replace(PRESETS["tiny"], block_size=16), 27).eval()
    decoder = Decoder(model, layout)
    idx = torch.randint(27, (1, 16))  # (1, T)
    with torch.no_grad():
        expected = model(idx)[0]  # (T, V)
    cache = model.new_kv_cache()
    model(idx[:, :5], kv_cache=cache)  # a prefill, then one position at a time
    for position in range(5, 16):
        logits = decoder(int(idx[0, position]), cache)  # (V,)
        torch.testing.assert_close(logits, expected[position], atol=1e-5, rtol=1e-4)
    assert cache.length == 16
    with pytest.raises(ValueError, match="block_size"):
        decoder(0, cache)


@pytest.mark.parametrize("as_rows", [True, False])
def test_numpy_decoder_matches_forward_with_matrices_stored_either_way(
    as_rows: bool, monkeypatch
) -> None:
    import core.fast.decode

    monkeypatch.setattr(core.fast.decode, "_faster_as_rows", lambda matrices: as_rows)
    torch.manual_seed(0)
    model = MiniGPT(replace(PRESETS["tiny"], block_size=16), 27).eval()
    decoder = Decoder(model, "numpy")
    width, hidden = model.config.embedding_dim, model.config.hidden_dim
    down = (width, hidden) if as_rows else (hidden, width)
    assert decoder._numpy.layers[0].down.array.shape == down  # (out, in) or (in, out)
    assert decoder._numpy.layers[0].down.rows is as_rows
    idx = torch.randint(27, (1, 16))  # (1, T)
    with torch.no_grad():
        expected = model(idx)[0]  # (T, V)
    cache = model.new_kv_cache()
    for position in range(16):
        logits = decoder(int(idx[0, position]), cache)  # (V,)
        torch.testing.assert_close(logits, expected[position], atol=1e-5, rtol=1e-4)
    decoder.products()()  # the products alone run over the same stored matrices


def test_row_layout_decoder_sees_in_place_weight_updates() -> None:
    torch.manual_seed(0)
    model = MiniGPT(PRESETS["tiny"], 27).eval()
    decoder = Decoder(model, "rows")
    with torch.no_grad():
        model.head.weight.mul_(2.0)
    logits = decoder(1, model.new_kv_cache())  # (V,)
    torch.testing.assert_close(logits, model(torch.tensor([[1]]))[0, 0].detach())


def test_decode_query_is_one_position_against_cached_keys() -> None:
    session = _session(block_size=16)
    session.start("abc")
    assert session.cache_length == 3
    session.step()
    assert session.cache_length == 4
    assert session.cache.keys.shape[3] == 16  # preallocated to block_size


def test_greedy_text_identical_with_and_without_cache() -> None:
    cached = _session(block_size=16, temperature=0)
    uncached = _session(block_size=16, use_cache=False, temperature=0)
    a = [step.token_id for step in cached.stream("the ", 80)]
    b = [step.token_id for step in uncached.stream("the ", 80)]
    assert a == b


def test_rewind_then_redecode_reproduces_logits() -> None:
    session = _session(block_size=16, temperature=0)
    session.start("abc")
    for _ in range(20):  # past one slide
        session.step()
    after = [logits.clone() for logits in session._logits[-6:]]
    ids = list(session.ids)
    session.rewind(5)
    assert session.ids == ids[:-5]
    for token_id in ids[-5:]:
        session.step(force=token_id)
    for expected, got in zip(after, session._logits[-6:], strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_rewind_restores_text_and_distribution() -> None:
    session = _session()
    first = session.start("ab")
    session.step()
    session.step()
    again = session.rewind(2)
    assert session.text == "ab"
    assert again == first


def test_same_seed_same_text() -> None:
    a = "".join(s.text for s in _session(temperature=1.0, top_k=None).stream("a", 30))
    b = "".join(s.text for s in _session(temperature=1.0, top_k=None).stream("a", 30))
    assert a == b


def test_forced_token_is_appended() -> None:
    session = _session()
    distribution = session.start("ab")
    pick = distribution.candidates[-1].token_id
    step = session.step(force=pick)
    assert step.forced and step.token_id == pick and session.ids[-1] == pick
    assert step.prob == pytest.approx(distribution.candidates[-1].prob)


def test_changing_temperature_rescores_without_forward() -> None:
    session = _session(temperature=1.0, top_k=None)
    hot = session.start("ab")
    forwards = len(session._logits)
    session.set_sampling(temperature=0.0)
    cold = session.distribution()
    assert len(session._logits) == forwards
    assert cold.candidates[0].prob == 1.0 and len(cold.candidates) == 1
    assert cold.candidates[0].token_id == hot.candidates[0].token_id
    assert hot.entropy > cold.entropy == 0.0


def test_step_record_candidates_come_from_sampled_distribution() -> None:
    session = _session(temperature=0.7, top_k=3)
    step = next(session.stream("ab", 1))
    assert len(step.candidates) == 3
    assert sum(c.prob for c in step.candidates) == pytest.approx(1.0)
    assert step.token_id in [c.token_id for c in step.candidates]
    assert step.entropy <= math.log2(3) + 1e-6


def test_empty_prompt_starts_from_newline() -> None:
    session = _session()
    session.start("")
    assert session.ids == [session.tokenizer.encode("\n")[0]]


def test_unknown_prompt_character_is_refused() -> None:
    with pytest.raises(ValueError, match="position 1"):
        _session().start("aZ")


def test_extend_appends_a_chat_turn_through_the_cache() -> None:
    cached, uncached = _session(), _session(use_cache=False)
    for session in (cached, uncached):
        session.start("ab")
        session.step()
        session.extend("cd\n")
    torch.testing.assert_close(cached._logits[-1], uncached._logits[-1], atol=1e-5, rtol=1e-4)


def test_bpe_emits_text_only_when_a_character_is_complete() -> None:
    tokenizer = BPETokenizer.train("caf\u00e9 na\u00efve \u2713 " * 40, 260)
    model = MiniGPT(PRESETS["tiny"], tokenizer.vocab_size)
    session = GenerationSession(model, tokenizer, SamplingConfig(temperature=0))
    byte_ids = {tokenizer.token_bytes(i): i for i in range(tokenizer.vocab_size)}
    session.start("caf")
    pieces = [session.step(force=byte_ids[bytes([b])]).text for b in "\u2713".encode()]
    assert pieces == ["", "", "\u2713"]
    assert session.text == "caf\u2713"


def test_session_from_training_snapshot_does_not_follow_training(tiny_config, text) -> None:
    training = TrainingSession(tiny_config, text, "cpu")
    session = GenerationSession.from_state(
        training.config, training.tokenizer, training.snapshot(), SamplingConfig(temperature=0)
    )
    before = session.start("First").candidates
    list(training.steps())
    assert session.start("First").candidates == before


# --- the sampling stages, against hand-computed distributions ------------------------------

LOGITS = torch.tensor([2.0, 1.0, 0.0, -1.0])


def test_temperature_divides_logits() -> None:
    torch.testing.assert_close(apply_temperature(LOGITS, 2.0), LOGITS / 2)
    with pytest.raises(ValueError):
        apply_temperature(LOGITS, 0.0)


def test_top_k_keeps_the_k_largest() -> None:
    probs = torch.softmax(apply_top_k(LOGITS, 2), -1)
    expected = torch.tensor([math.e, 1.0, 0.0, 0.0]) / (math.e + 1)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(apply_top_k(LOGITS, 99), LOGITS)


def test_top_p_keeps_smallest_set_reaching_mass() -> None:
    base = torch.softmax(LOGITS, -1)  # [0.644, 0.237, 0.087, 0.032]
    kept = torch.softmax(apply_top_p(LOGITS, 0.85), -1)
    expected = torch.tensor([base[0], base[1], 0, 0]) / (base[0] + base[1])
    torch.testing.assert_close(kept, expected)
    assert torch.softmax(apply_top_p(LOGITS, 0.5), -1)[0] == 1.0


def test_min_p_drops_relative_to_the_top() -> None:
    base = torch.softmax(LOGITS, -1)
    kept = torch.softmax(apply_min_p(LOGITS, 0.3), -1)  # threshold 0.193: keeps two
    expected = torch.tensor([base[0], base[1], 0, 0]) / (base[0] + base[1])
    torch.testing.assert_close(kept, expected)


def test_repetition_penalty_divides_positive_and_multiplies_negative() -> None:
    out = apply_repetition_penalty(LOGITS, [0, 3, 3], 2.0)
    torch.testing.assert_close(out, torch.tensor([1.0, 1.0, 0.0, -2.0]))


def test_pipeline_order_and_greedy() -> None:
    greedy = sampling_distribution(LOGITS, SamplingConfig(temperature=0))
    torch.testing.assert_close(greedy, torch.tensor([1.0, 0, 0, 0]))
    penalized = sampling_distribution(
        LOGITS, SamplingConfig(temperature=0, repetition_penalty=4.0), [0]
    )
    assert penalized.argmax().item() == 1
    mixed = sampling_distribution(LOGITS, SamplingConfig(temperature=0.5, top_k=3, top_p=0.9))
    scaled = torch.softmax(LOGITS / 0.5, -1)
    assert mixed[3] == 0 and mixed[2] == 0  # top-k drops 3; top-p then drops 2
    torch.testing.assert_close(mixed[:2], scaled[:2] / scaled[:2].sum())


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(temperature=0.7, top_k=None),
        SamplingConfig(temperature=1.3, top_k=5, top_p=0.8),
        SamplingConfig(temperature=0.9, top_k=12, min_p=0.05, repetition_penalty=1.5),
    ],
)
def test_ranked_distribution_equals_the_stages_over_the_vocabulary(sampling) -> None:
    logits = torch.randn(30, generator=torch.Generator().manual_seed(3))  # (V,)
    context = [1, 4, 4, 9]
    expected = apply_repetition_penalty(logits, context, sampling.repetition_penalty)
    expected = apply_top_k(apply_temperature(expected, sampling.temperature), sampling.top_k)
    expected = torch.softmax(apply_min_p(apply_top_p(expected, sampling.top_p), sampling.min_p), -1)
    ranked = ranked_distribution(logits, sampling, context)
    probs, ids = ranked.probs, ranked.ids  # (K,), (K,)
    assert probs.tolist() == sorted(probs.tolist(), reverse=True)
    torch.testing.assert_close(torch.zeros(30).scatter(0, ids, probs), expected)
    torch.testing.assert_close(sampling_distribution(logits, sampling, context), expected)


def test_sample_next_draws_in_proportion_and_never_a_zero() -> None:
    probs = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    generator = torch.Generator().manual_seed(0)
    draws = [sample_next(probs, generator) for _ in range(4000)]
    counts = [draws.count(i) / len(draws) for i in range(len(probs))]
    assert counts[0] == counts[2] == counts[5] == 0
    for i in (1, 3, 4):
        assert abs(counts[i] - probs[i].item()) < 0.03


def test_sampling_distribution_is_the_readable_twin_of_the_ranked_path() -> None:
    torch.manual_seed(0)
    logits = torch.randn(40) * 3  # (V,)
    context = [1, 2, 3, 5, 8]
    for sampling in (
        SamplingConfig(temperature=0),
        SamplingConfig(temperature=0.7, top_k=10, top_p=0.8, min_p=0.05),
        SamplingConfig(temperature=1.3, top_k=None, top_p=0.95, repetition_penalty=1.5),
    ):
        ranked = ranked_distribution(logits, sampling, context)
        probs, ids = ranked.probs, ranked.ids  # (K,), (K,)
        scattered = torch.zeros(40).scatter(0, ids, probs)  # (V,)
        readable = sampling_distribution(logits, sampling, context)  # (V,)
        torch.testing.assert_close(scattered, readable)


def _stage_outputs(logits, sampling, context) -> list[torch.Tensor]:
    """The readable pipeline's logits (V,) after each stage, in STAGES order."""
    penalized = apply_repetition_penalty(logits, context, sampling.repetition_penalty)
    tempered = apply_temperature(penalized, sampling.temperature)
    after_top_k = apply_top_k(tempered, sampling.top_k)
    after_top_p = apply_top_p(after_top_k, sampling.top_p)
    return [penalized, tempered, after_top_k, after_top_p, apply_min_p(after_top_p, sampling.min_p)]


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(temperature=0.7, top_k=10, top_p=0.8, min_p=0.05),
        SamplingConfig(temperature=1.3, top_k=None, top_p=0.6, repetition_penalty=1.5),
        SamplingConfig(temperature=0.4, top_k=25, min_p=0.2),
    ],
)
def test_stage_cuts_are_what_each_readable_stage_sets_to_minus_inf(sampling) -> None:
    torch.manual_seed(0)
    logits = torch.randn(40) * 3  # (V,)
    context = [1, 2, 3, 5, 8]
    outputs = _stage_outputs(logits, sampling, context)
    uncut = torch.softmax(outputs[1].double(), -1)  # (V,)
    ranked = ranked_distribution(logits, sampling, context)
    previous = torch.ones(40, dtype=torch.bool)  # (V,)
    for index, (after, cut) in enumerate(zip(outputs, ranked.cuts, strict=True)):
        removed = previous & (after == -math.inf)  # (V,)
        assert torch.equal(ranked.removed_by == index, removed), cut.stage
        if index > 0:  # the penalty reshapes: it is counted by what it changed
            assert cut.tokens == int(removed.sum())
            assert cut.mass == pytest.approx(float(uncut[removed].sum()), abs=1e-9)
        previous &= ~removed


def test_stage_cut_masses_and_the_kept_mass_add_up_to_one() -> None:
    logits = torch.randn(50, generator=torch.Generator().manual_seed(1)) * 2  # (V,)
    sampling = SamplingConfig(temperature=0.9, top_k=30, top_p=0.95, min_p=0.1)
    ranked = ranked_distribution(logits, sampling)
    kept = ranked.removed_by == len(STAGES)  # (V,)
    cut = sum(c.mass for c in ranked.cuts[1:])
    assert cut + float(ranked.uncut.double()[kept].sum()) == pytest.approx(1.0, abs=1e-6)
    assert [c.tokens > 0 for c in ranked.cuts[2:]] == [True, True, True]


def test_penalty_cut_counts_the_context_tokens_and_the_mass_they_lost() -> None:
    sampling = SamplingConfig(temperature=0.5, repetition_penalty=2.0)
    ranked = ranked_distribution(LOGITS, sampling, [0, 3, 3])
    penalty = ranked.cuts[0]
    before = torch.softmax(LOGITS.double() / 0.5, -1)
    after = torch.softmax(apply_repetition_penalty(LOGITS, [0, 3], 2.0).double() / 0.5, -1)
    assert (penalty.stage, penalty.tokens) == ("repetition penalty", 2)
    assert penalty.mass == pytest.approx(float((before - after)[[0, 3]].sum()))
    assert penalty.mass > 0


def test_greedy_cut_is_temperature_keeping_only_the_argmax() -> None:
    ranked = ranked_distribution(LOGITS, SamplingConfig(temperature=0))
    cuts = {cut.stage: cut for cut in ranked.cuts}
    assert ranked.removed_by.tolist() == [len(STAGES), 1, 1, 1]
    assert cuts["temperature"].tokens == 3
    assert cuts["temperature"].mass == pytest.approx(1 - float(torch.softmax(LOGITS, -1)[0]))
    assert cuts["top-k"].tokens == cuts["top-p"].tokens == cuts["min-p"].tokens == 0


def test_chat_reply_ends_at_a_blank_line_and_reset_forgets(monkeypatch) -> None:
    torch.manual_seed(0)
    model = MiniGPT(replace(PRESETS["tiny"], block_size=32), 4).eval()
    tokenizer = CharTokenizer(["\n", "a", "b", "c"])
    session = GenerationSession(model, tokenizer, SamplingConfig(temperature=0))
    # the model's turn, scripted through the real step: leading newlines, text, a blank line
    script = iter(tokenizer.encode("\nab\nc\n\nba"))
    real_step = session.step
    monkeypatch.setattr(session, "step", lambda: real_step(force=next(script)))
    reply = "".join(step.text for step in session.reply("ca", max_new_tokens=20))
    assert reply == "\nab\nc\n\n" and session.last_reply_complete
    assert tokenizer.decode(session.ids) == "ca\n\nab\nc\n\n"
    session.reset()
    assert session.ids == [] and session.cache_length == 0 and session.generated == ()
    monkeypatch.setattr(session, "step", real_step)
    cut = list(session.reply("abc", max_new_tokens=1))
    assert len(cut) == 1 and not session.last_reply_complete


def test_numpy_decoders_gelu_is_torchs_exact_gelu() -> None:
    from core.fast.numpy_ops import gelu as _gelu

    x = torch.linspace(-12, 12, 40001)  # (N,)
    got = torch.from_numpy(_gelu(x.numpy()))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.nn.functional.gelu(x), atol=2e-6, rtol=1e-5)
