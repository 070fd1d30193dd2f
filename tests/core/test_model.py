"""The model's parts behave as the reference design says."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    Embeddings,
    FeedForward,
    MiniGPT,
    MultiHeadAttention,
    SingleHeadAttention,
    Transformer,
)
from core.fast.attention import use_fast_attention


def test_single_head_causal_masking() -> None:
    head = SingleHeadAttention(embedding_dim=16, head_dim=8)
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[:, 3] = torch.randn(16)
    before, after = head(x), head(changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_attention_scores_are_scaled() -> None:
    head = SingleHeadAttention(embedding_dim=16, head_dim=8)
    x = torch.randn(2, 5, 16)
    q, k = head.query(x), head.key(x)
    raw = q @ k.transpose(-2, -1)  # (B, T, T)
    scores = head.scores(x)
    lower = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(scores[:, lower], raw[:, lower] / math.sqrt(8))
    assert torch.isneginf(scores[:, ~lower]).all()


def test_attention_weights_are_a_distribution_over_the_past() -> None:
    head = SingleHeadAttention(embedding_dim=16, head_dim=8)
    _, weights = head(torch.randn(2, 5, 16), return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))
    assert (weights.triu(diagonal=1) == 0).all()


def test_mha_matches_concatenated_single_heads() -> None:
    attention = MultiHeadAttention(embedding_dim=32, num_heads=4)
    x = torch.randn(2, 7, 32)
    fast = attention(x)
    slow, maps = attention.per_head(x)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    heads = attention.single_heads()
    by_hand = attention.proj(torch.cat([head(x) for head in heads], dim=-1))
    torch.testing.assert_close(fast, by_hand, atol=1e-5, rtol=1e-5)
    assert maps.shape == (2, 4, 7, 7)


@pytest.mark.parametrize("scale", [True, False])
def test_bf16_attention_on_the_cpu_matches_fp32_and_stays_causal(scale: bool) -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(embedding_dim=32, num_heads=4, scale=scale)
    x = torch.randn(2, 9, 32)
    exact = attention(x)
    use_fast_attention(attention, torch.bfloat16, torch.device("cpu"))
    assert attention.kernel is not None
    torch.testing.assert_close(attention(x), exact)  # fp32 outside autocast: the readable path
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = attention(x)
        changed = x.clone()
        changed[:, 5] = torch.randn(32)
        low_changed = attention(changed)
    assert low.dtype is torch.bfloat16
    torch.testing.assert_close(low.float(), exact, atol=3e-2, rtol=3e-2)
    # the future is masked in bf16 too: positions before 5 do not move when 5 changes
    assert torch.equal(low[:, :5], low_changed[:, :5])
    assert not torch.equal(low[:, 5:], low_changed[:, 5:])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low.float().square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in attention.parameters())


def test_ffn_position_independence() -> None:
    ffn = FeedForward(embedding_dim=16, hidden_dim=64)
    x = torch.randn(1, 5, 16)
    whole = ffn(x)
    for position in range(5):
        torch.testing.assert_close(whole[:, position], ffn(x[:, position : position + 1])[:, 0])
    changed = x.clone()
    changed[:, 2] = torch.randn(16)
    torch.testing.assert_close(ffn(changed)[:, [0, 1, 3, 4]], whole[:, [0, 1, 3, 4]])


def test_ffn_expands_four_times_by_default() -> None:
    config = PRESETS["seed"]
    assert config.hidden_dim == 2048 == 4 * config.embedding_dim
    assert Transformer(config).ffn.up.out_features == 2048


def test_transformer_residual_passthrough() -> None:
    config = replace(PRESETS["tiny"], embedding_dim=64, num_heads=4, num_layers=4)
    model = MiniGPT(config, vocab_size=50)
    x = torch.randn(2, 8, 64)
    out = model.blocks[0](x)
    relative = (out - x).norm() / x.norm()
    assert relative < 0.05


def test_shape_journey() -> None:
    config = replace(PRESETS["tiny"], embedding_dim=32, num_heads=4, block_size=16)
    batch_size, seq_len, vocab_size = 3, 10, 27
    model = MiniGPT(config, vocab_size)
    idx = torch.randint(vocab_size, (batch_size, seq_len))
    embedded = model.embeddings(idx)
    assert embedded.shape == (batch_size, seq_len, 32)
    head = model.blocks[0].attention.single_heads()[0]
    assert head(embedded).shape == (batch_size, seq_len, 8)
    attended = model.blocks[0].attention(embedded)
    assert attended.shape == (batch_size, seq_len, 32)
    assert model.blocks[0].ffn(attended).shape == (batch_size, seq_len, 32)
    assert model(idx).shape == (batch_size, seq_len, vocab_size)


def test_embeddings_add_token_and_position() -> None:
    embeddings = Embeddings(vocab_size=10, embedding_dim=8, block_size=6)
    idx = torch.tensor([[3, 3]])
    out = embeddings(idx)
    torch.testing.assert_close(
        out[0, 0], embeddings.token.weight[3] + embeddings.position.weight[0]
    )
    torch.testing.assert_close(
        out[0, 1], embeddings.token.weight[3] + embeddings.position.weight[1]
    )


def test_context_longer_than_block_is_refused() -> None:
    model = MiniGPT(PRESETS["tiny"], vocab_size=10)
    too_long = torch.zeros(1, PRESETS["tiny"].block_size + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="block_size"):
        model(too_long)


def test_fresh_model_loss_is_near_uniform_guess() -> None:
    vocab_size = 65
    model = MiniGPT(PRESETS["tiny"], vocab_size)
    idx = torch.randint(vocab_size, (4, 16))
    logits = model(idx)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), idx.reshape(-1))
    assert abs(loss.item() - math.log(vocab_size)) < 0.1
