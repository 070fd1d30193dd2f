"""X-ray computations: read from the real modules, they show what the model really does."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    CharTokenizer,
    MiniGPT,
    UserError,
    attention_stages,
    build_tokenizer,
    cross_entropy_for_logits,
    perturbation_probe,
    prediction_tape,
    size_model,
    token_lens,
)

TEXT = "To be, or not to be: that is the question."


def _model_and_tokenizer(**changes) -> tuple[MiniGPT, CharTokenizer]:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    config = replace(PRESETS["tiny"], block_size=64, **changes)
    return MiniGPT(config, tokenizer.vocab_size).eval(), tokenizer


def test_attention_weights_are_zero_above_the_diagonal_and_rows_sum_to_one() -> None:
    model, tokenizer = _model_and_tokenizer()
    stages = attention_stages(model, tokenizer, TEXT, layer=1, head=1)
    weights = torch.tensor(stages.weights)  # (T, T)
    assert weights.shape == (len(TEXT), len(TEXT)) and stages.cropped == 0
    assert torch.all(weights.triu(diagonal=1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(TEXT)))
    masked = torch.tensor(stages.masked)  # (T, T)
    future = torch.ones_like(masked, dtype=torch.bool).triu(diagonal=1)  # (T, T)
    assert torch.all(masked[future] == float("-inf")) and torch.all(masked[~future] > -1e9)


def test_attention_stages_scale_by_the_root_of_the_head_width() -> None:
    model, tokenizer = _model_and_tokenizer()
    stages = attention_stages(model, tokenizer, TEXT)
    head_dim = model.config.head_dim
    torch.testing.assert_close(
        torch.tensor(stages.scaled), torch.tensor(stages.scores) / math.sqrt(head_dim)
    )
    unscaled = attention_stages(model, tokenizer, TEXT, scale=False)
    assert unscaled.scaled == unscaled.scores


def test_zero_filled_mask_leaks_weight_to_the_future() -> None:
    model, tokenizer = _model_and_tokenizer()
    leaky = torch.tensor(attention_stages(model, tokenizer, TEXT, mask_fill=0.0).weights)
    assert torch.all(leaky.triu(diagonal=1)[:-1].sum(-1) > 0)


def test_probe_leaves_the_past_exactly_unchanged_and_the_ffn_moves_only_there() -> None:
    model, tokenizer = _model_and_tokenizer()
    probe = perturbation_probe(model, tokenizer, TEXT, position=10)
    assert probe.max_change[:10] == [0.0] * 10 and probe.attention_change[:10] == [0.0] * 10
    assert probe.max_change[10] > 0
    assert [i for i, change in enumerate(probe.ffn_change) if change > 0] == [10]


def test_tape_mean_equals_the_training_loss_on_the_same_chunk() -> None:
    model, tokenizer = _model_and_tokenizer()
    tape = prediction_tape(model, tokenizer, TEXT)
    ids = torch.tensor([tokenizer.encode(TEXT)])  # (1, T + 1)
    with torch.no_grad():
        expected = cross_entropy_for_logits(model(ids[:, :-1]), ids[:, 1:])
    assert tape.mean_loss == pytest.approx(float(expected), rel=1e-6)
    assert sum(tape.losses) / len(tape.losses) == pytest.approx(tape.mean_loss, rel=1e-5)
    assert tape.targets[:-1] == tape.inputs[1:]


def test_xray_refuses_bad_layers_and_positions() -> None:
    model, tokenizer = _model_and_tokenizer()
    with pytest.raises(UserError, match="layer must be in 0..1"):
        attention_stages(model, tokenizer, TEXT, layer=2)
    with pytest.raises(UserError, match="position must be in"):
        perturbation_probe(model, tokenizer, TEXT, position=999)


def test_sizing_counts_the_real_parameters_and_saved_activations() -> None:
    config = replace(PRESETS["tiny"], embedding_dim=48, num_heads=3, ffn_dim=100)
    sizing = size_model(config, 30, measure_steps=1)
    model = MiniGPT(config, 30)
    total = sum(p.numel() for p in model.parameters())
    assert dict(sizing.parts)["total"] == total
    assert sizing.weights_mb == pytest.approx(total * 4 / 2**20)
    assert sizing.kv_cache_bytes_per_token == 2 * config.num_layers * 48 * 4
    # at least the logits' log-softmax (B, T, V) is saved for the backward pass
    assert sizing.activations_mb >= config.batch_size * config.block_size * 30 * 4 / 2**20


def test_token_lens_shows_bpe_holding_more_text_per_block() -> None:
    corpus = TEXT * 30
    tokenizers = {
        "char": build_tokenizer("char", corpus),
        "bpe": build_tokenizer("bpe", corpus, 300),
    }
    char, bpe = token_lens("that is the question", tokenizers, block_size=64)
    assert "".join(char.tokens) == "".join(bpe.tokens) == "that is the question"
    assert char.characters_per_token == 1.0 and bpe.characters_per_token > 1.0
    assert bpe.block_characters > char.block_characters
