"""The decode step's weight formats: fp32, bf16 and int8, their quality cost and `auto`."""

from dataclasses import replace

import pytest
import torch

from core import PRESETS, GenerationSession, SamplingConfig
from core.fast.auto_weights import choose_weights, held_out_probe, matrices_bytes
from core.fast.decode import Decoder
from core.fast.weight_formats import (
    AUTO_MIN_BYTES,
    FormatLinear,
    Int8Matrix,
    available_formats,
    formatted_model,
    quality_cost,
)
from core.model import MiniGPT
from core.tokenizer import CharTokenizer

# wide enough for a matrix to hold rows of real length, small enough to build in milliseconds
SHAPE = replace(PRESETS["tiny"], embedding_dim=64, num_heads=4, num_layers=2, block_size=32)
FORMATS = available_formats(MiniGPT(PRESETS["tiny"], 5))


def _model(config=SHAPE, vocab: int = 40) -> MiniGPT:
    torch.manual_seed(0)
    return MiniGPT(config, vocab).eval()


def _decode(model: MiniGPT, weights: str, ids: list[int]) -> torch.Tensor:
    decoder, cache = Decoder(model, weights=weights), model.new_kv_cache()
    return torch.stack([decoder(token, cache) for token in ids])  # (T, V)


@pytest.mark.parametrize("weights", [w for w in FORMATS if w != "fp32"])
def test_a_formats_logits_stay_close_to_fp32(weights) -> None:
    model, ids = _model(), [3, 1, 4, 1, 5, 9, 2, 6]
    exact, got = _decode(model, "fp32", ids), _decode(model, weights, ids)
    error = (got - exact).abs().max().item()
    # bounded, and not zero: the format really is read (fp32 would give the same bits)
    assert 0 < error < 0.05 * exact.abs().max().item()
    assert got.argmax(-1).tolist() == exact.argmax(-1).tolist()


def test_fp32_decoding_is_the_model_itself() -> None:
    model, ids = _model(), [3, 1, 4, 1, 5]
    whole = model(torch.tensor([ids]))[0].detach()  # (T, V)
    torch.testing.assert_close(_decode(model, "fp32", ids), whole, atol=1e-5, rtol=1e-4)


def test_int8_stores_a_byte_per_weight_and_a_scale_per_row() -> None:
    if "int8" not in FORMATS:
        pytest.skip("this PyTorch build has no quantized engine")
    weight = torch.randn(48, 64)
    matrix = Int8Matrix(weight)
    assert matrix.nbytes == 48 * 64 + 48 * 4
    x = torch.randn(64)
    # per-row symmetric quantization: each product within a few steps of 1/127 of the row
    bound = (weight.abs().amax(1) / 127 * x.abs().sum() * 2).max()
    assert (matrix.times(x) - weight @ x).abs().max() < bound


@pytest.mark.parametrize("weights", [w for w in FORMATS if w != "fp32"])
def test_the_formatted_model_shares_the_fp32_parts_and_leaves_the_model_alone(weights) -> None:
    model = _model()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    formatted = formatted_model(model, weights)
    assert isinstance(formatted.head, FormatLinear) and isinstance(model.head, torch.nn.Linear)
    assert formatted.embeddings is model.embeddings
    assert isinstance(formatted.blocks[0].ffn.up, FormatLinear)
    ids = torch.tensor([[1, 2, 3, 4]])
    exact, got = model(ids), formatted(ids)
    assert (got - exact).abs().max() < 0.05 * exact.abs().max()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_quality_cost_is_the_difference_in_bits_per_character() -> None:
    model = _model()
    ids = torch.randint(40, (2, 17), generator=torch.Generator().manual_seed(0))
    assert quality_cost(model, "fp32", ids) == 0.0
    costs = {w: quality_cost(model, w, ids) for w in FORMATS if w != "fp32"}
    assert all(abs(cost) < 0.05 for cost in costs.values())
    # two characters per token: half the bits per character
    for weights, cost in costs.items():
        assert quality_cost(model, weights, ids, 2.0) == pytest.approx(cost / 2)


def test_auto_sizes_the_same_matrices_an_fp32_decoder_streams() -> None:
    model = _model()  # sized without building a decoder: the two counts must not drift apart
    assert matrices_bytes(model) == Decoder(model, weights="fp32").weight_bytes


def test_auto_keeps_fp32_for_a_model_too_small_to_stream(monkeypatch) -> None:
    model = _model()
    assert Decoder(model).weight_bytes < AUTO_MIN_BYTES
    assert choose_weights(model) == ("fp32", ())
    session = GenerationSession(model, CharTokenizer("abcdefghij" * 4), weights="auto")
    assert session.weights == "fp32" and session.weight_timings == ()


def test_auto_takes_the_fastest_format_within_the_quality_bound(monkeypatch) -> None:
    model = _model()
    weights, timings = choose_weights(model, min_bytes=0)
    assert [t.weights for t in timings] == list(FORMATS)
    chosen = next(t for t in timings if t.weights == weights)
    allowed = [t for t in timings if t.weights == "fp32" or t.bpc_cost <= 0.01]
    assert chosen == min(allowed, key=lambda t: t.step_ms)
    # with no quality to spare, only fp32 qualifies
    monkeypatch.setattr("core.fast.auto_weights.MAX_BPC_COST", -1.0)
    monkeypatch.setattr("core.fast.auto_weights._chosen", {})
    assert choose_weights(model, min_bytes=0)[0] == "fp32"


@pytest.mark.parametrize("weights", FORMATS)
def test_a_session_decodes_in_the_format_asked_for(weights) -> None:
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz .,;:!?'\n-ABCD")
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=12)
    session = GenerationSession(_model(), tokenizer, greedy, weights=weights)
    assert session.weights == weights and session.decoder.weights == weights
    text = "".join(step.text for step in session.stream("the ", 12))
    assert len(text) == 12


def test_a_held_out_probe_comes_from_the_validation_split() -> None:
    text = "".join(chr(97 + (i * 7) % 26) for i in range(2000))
    tokenizer = CharTokenizer(sorted(set(text)))
    ids, characters = held_out_probe(tokenizer, text, block_size=16, count=4)
    assert ids.shape == (4, 17) and characters == 1.0
    tail = tokenizer.encode(text[1800:])  # the last 10% validates
    assert all(any(row.tolist() == tail[i : i + 17] for i in range(len(tail) - 16)) for row in ids)
