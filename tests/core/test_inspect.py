"""The studio's model views: read through forward hooks on the real modules."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core import PRESETS, MiniGPT, UserError, attention_maps, parameter_counts, shape_journey


def _model(**changes) -> MiniGPT:
    torch.manual_seed(0)
    return MiniGPT(replace(PRESETS["tiny"], **changes), 27).eval()


def test_shape_journey_reports_the_real_ffn_width() -> None:
    model = _model(embedding_dim=32, num_heads=4, ffn_dim=48)
    stages = {stage.stage: stage for stage in shape_journey(model, batch_size=3)}
    assert stages["Embeddings"].shape == (3, 16, 32)
    assert stages["SingleHeadAttention"].shape == (3, 16, 8)
    assert stages["MultiHeadAttention"].shape == (3, 16, 32)
    assert "expand to 48" in stages["FeedForward"].note
    assert stages["MiniGPT (logits)"].shape == (3, 16, 27)


def test_shape_journey_leaves_no_hook_behind() -> None:
    model = _model()
    shape_journey(model)
    assert all(not module._forward_hooks for module in model.modules())


def test_attention_maps_are_causal_rows_that_sum_to_one() -> None:
    model = _model()
    maps = torch.tensor(attention_maps(model, list(range(10)), layer=1))  # (H, T, T)
    assert maps.shape == (2, 10, 10)
    assert torch.all(maps.triu(diagonal=1) == 0)  # read from the weights, not drawn empty
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 10))


def test_attention_maps_match_the_fused_attention_output() -> None:
    model = _model()
    block = model.blocks[0]
    x = model.embeddings(torch.tensor([list(range(8))]))  # (1, T, C)
    fused = block.attention(block.ln1(x))  # (1, T, C)
    readable, _ = block.attention.per_head(block.ln1(x))  # (1, T, C), (1, H, T, T)
    torch.testing.assert_close(readable, fused, atol=1e-5, rtol=1e-4)


def test_attention_maps_refuse_a_missing_layer() -> None:
    with pytest.raises(UserError, match="layer must be in 0..1"):
        attention_maps(_model(), [1, 2], layer=5)


def test_parameter_counts_add_up_to_the_model() -> None:
    model = _model()
    rows = dict(parameter_counts(model))
    assert rows["total"] == sum(p.numel() for p in model.parameters())
    assert sum(v for k, v in rows.items() if k != "total") == rows["total"]
