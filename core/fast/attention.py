"""Causal attention written out in bf16 for CPU training, installed on a model from outside.

Under CPU autocast, `scaled_dot_product_attention` on bf16 inputs takes a flash-attention
backward that is slower than fp32 attention; this path computes q . k, the mask, the softmax
(whose CPU kernel computes in fp32 inside and rounds once) and the weighted sum in bf16, and is
faster than both (docs/performance.md). The readable `MultiHeadAttention.attend` is its twin,
and `tests/core/test_model.py` checks that they agree.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from core.model import MultiHeadAttention

LOW_PRECISION = (torch.bfloat16, torch.float16)


def causal_bias(seq_len: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """0 where a position may look, -inf above the diagonal: added to scores, (T, T)."""
    return torch.full((seq_len, seq_len), float("-inf"), device=device, dtype=dtype).triu(1)


def cpu_low_precision_attend(
    attention: MultiHeadAttention,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    start: int,
    dropout: float,
) -> torch.Tensor:
    """`attention.attend` for q (B, H, T, D) and k, v (B, H, S, D) under CPU autocast."""
    if q.dtype not in LOW_PRECISION:  # autocast off for this call: the readable path
        return attention.attend(q, k, v, start, dropout)
    if attention.mask != "causal" or start != 0 or q.shape[2] == 1:
        # the experiments' masks and cached decoding: the readable path, in fp32
        with torch.autocast("cpu", enabled=False):
            out = attention.attend(q.float(), k.float(), v.float(), start, dropout)
        return out.to(q.dtype)
    if attention.scale:
        q = q * (1.0 / math.sqrt(attention.head_dim))  # (B, H, T, D): smaller than the scores
    scores = q @ k.transpose(-2, -1)  # (B, H, T, T)
    # an added -inf bias rather than masked_fill: faster per whole step (docs/performance.md)
    scores = scores + causal_bias(q.shape[2], q.device, q.dtype)  # -inf above the diagonal
    weights = torch.softmax(scores, dim=-1)  # (B, H, T, T)
    weights = F.dropout(weights, dropout, training=dropout > 0)
    return weights @ v  # (B, H, T, D)


def use_fast_attention(
    model: torch.nn.Module, autocast_dtype: torch.dtype | None, device: torch.device
) -> None:
    """Give every attention layer of `model` the CPU low-precision path when it will train
    under CPU bf16 (or fp16) autocast; otherwise leave the readable path."""
    fast = autocast_dtype in LOW_PRECISION and device.type == "cpu"
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.kernel = partial(cpu_low_precision_attend, module) if fast else None
