"""The generation hot path: one token through the model, over weights gathered by its owner.

`Decoder` is `MiniGPT.forward` for B = T = 1 without dropout, written with functional ops.
At generation sizes a step costs per-operation overhead and weight streaming rather than
arithmetic, and every module call adds microseconds. The readable twin is `MiniGPT.forward`
with a KV cache; tests/core/test_generation.py checks they give the same logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.kv_cache import KVCache
from core.model import MiniGPT


def _norm(module: nn.LayerNorm) -> tuple:
    return module.normalized_shape, module.weight, module.bias, module.eps


class Decoder:
    """Next-token logits for one appended token, from a model's weights gathered once.

    The owner (a generation session) builds it after the model's weights and device are
    final and builds a new one if they change: the gathered tensors are the model's own, so
    in-place updates are seen, but `.to()` or `load_state_dict(assign=True)` are not.
    """

    def __init__(self, model: MiniGPT) -> None:
        self.config = model.config
        self.embeddings = model.embeddings
        self.layers = tuple(
            (
                _norm(block.ln1),
                block.attention.qkv.weight,
                block.attention.proj.weight,
                _norm(block.ln2),
                block.ffn.up.weight,
                block.ffn.up.bias,
                block.ffn.down.weight,
                block.ffn.down.bias,
            )
            for block in model.blocks
        )
        self.head = model.head.weight  # (V, C)
        self.final_norm = _norm(model.ln_final)

    @torch.inference_mode()
    def __call__(self, token_id: int, kv_cache: KVCache) -> torch.Tensor:
        """Append `token_id` to a single cached sequence; returns the next logits (V,)."""
        position = kv_cache.length
        config = self.config
        if position >= config.block_size:
            raise ValueError(
                f"position {position} is past block_size {config.block_size}; "
                "slide the window or reset the cache first"
            )
        num_heads, head_dim = config.num_heads, config.head_dim
        kv_cache.allocate(1, num_heads, head_dim, self.head.dtype, self.head.device)
        scale = head_dim**-0.5
        end = position + 1
        token, positions = self.embeddings.token.weight, self.embeddings.position.weight
        x = token[token_id] + positions[position]  # (C,)
        for (keys, values), (norm1, qkv, proj, norm2, up, up_bias, down, down_bias) in zip(
            kv_cache.first_sequence, self.layers, strict=True
        ):
            qkv_out = torch.mv(qkv, F.layer_norm(x, *norm1))  # (3C,)
            q, k, v = qkv_out.view(3, num_heads, 1, head_dim).unbind(0)  # each (H, 1, D)
            keys, values = keys.narrow(1, 0, end), values.narrow(1, 0, end)  # (H, S, D)
            keys.narrow(1, position, 1).copy_(k)
            values.narrow(1, position, 1).copy_(v)
            # the one new query sees every cached position: no mask
            scores = torch.bmm(q * scale, keys.transpose(1, 2))  # (H, 1, S)
            out = torch.bmm(torch.softmax(scores, dim=-1), values)  # (H, 1, D)
            x = x + torch.mv(proj, out.view(-1))  # (C,)
            hidden = F.gelu(torch.addmv(up_bias, up, F.layer_norm(x, *norm2)))  # (hidden_dim,)
            x = x + torch.addmv(down_bias, down, hidden)  # (C,)
        kv_cache.advance(1)
        return torch.mv(self.head, F.layer_norm(x, *self.final_norm))  # (V,)
