"""The MiniGPT model: embeddings, causal self-attention, feed-forward, pre-norm blocks, head."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.config import Config
from core.kv_cache import KVCache


class Embeddings(nn.Module):
    """Token embedding plus learned position embedding, added: (B, T) -> (B, T, C).

    The design switches: `position=False` drops the position table (the model then sees a bag
    of tokens); `combine="concat"` gives each table half the width and concatenates them.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        block_size: int,
        position: bool = True,
        combine: str = "add",
    ) -> None:
        super().__init__()
        position_dim = embedding_dim // 2 if combine == "concat" and position else embedding_dim
        token_dim = embedding_dim - position_dim if combine == "concat" and position else None
        self.token = nn.Embedding(vocab_size, token_dim or embedding_dim)
        self.position = nn.Embedding(block_size, position_dim) if position else None
        self.combine = combine
        self.block_size = block_size

    def forward(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        seq_len = idx.shape[1]
        if start + seq_len > self.block_size:
            raise ValueError(
                f"{start + seq_len} positions exceed block_size {self.block_size}; "
                "shorten the context"
            )
        tokens = self.token(idx)  # (B, T, C), or (B, T, C - C/2) when concatenated
        if self.position is None:
            return tokens
        positions = self.position(torch.arange(start, start + seq_len, device=idx.device))
        if self.combine == "concat":
            return torch.cat([tokens, positions.expand(len(idx), -1, -1)], dim=-1)  # (B, T, C)
        return tokens + positions  # (B, T, C)


def causal_mask(seq_len: int, device: torch.device | None = None) -> torch.Tensor:
    """True where a position may look: itself and the past (lower triangle)."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()  # (T, T)


class SingleHeadAttention(nn.Module):
    """One causal attention head: (B, T, C) -> (B, T, head_dim).

    `mask` is "causal" (the future at -inf), "zero" (the future's scores set to 0, which
    softmax still turns into weight: a leak) or "none"; `scale` divides by sqrt(head_dim).
    """

    def __init__(
        self, embedding_dim: int, head_dim: int, mask: str = "causal", scale: bool = True
    ) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.mask = mask
        self.scale = scale
        self.query = nn.Linear(embedding_dim, head_dim, bias=False)
        self.key = nn.Linear(embedding_dim, head_dim, bias=False)
        self.value = nn.Linear(embedding_dim, head_dim, bias=False)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled, causally masked scores before softmax, (B, T, T)."""
        return self.stages(x)[2]

    def stages(
        self, x: torch.Tensor, scale: bool | None = None, mask: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The head's attention step by step, each (B, T, T): raw q . k, scaled, masked, and
        the softmax weights. `scale` and `mask` override the head's own switches, so the same
        weights can be seen without scaling or with a 0-filled mask."""
        scale = self.scale if scale is None else scale
        mask = self.mask if mask is None else mask
        q = self.query(x)  # (B, T, D)
        k = self.key(x)  # (B, T, D)
        raw = q @ k.transpose(-2, -1)  # (B, T, T)
        scaled = raw / math.sqrt(self.head_dim) if scale else raw  # (B, T, T)
        masked = scaled
        if mask != "none":
            allowed = causal_mask(x.shape[1], x.device)  # (T, T)
            # -inf, not 0: softmax turns it into exactly zero weight on the future
            fill = float("-inf") if mask == "causal" else 0.0
            masked = scaled.masked_fill(~allowed, fill)  # (B, T, T)
        return raw, scaled, masked, torch.softmax(masked, dim=-1)

    def forward(
        self, x: torch.Tensor, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        weights = self.stages(x)[3]  # (B, T, T)
        out = weights @ self.value(x)  # (B, T, D)
        return (out, weights) if return_weights else out


class MultiHeadAttention(nn.Module):
    """`num_heads` causal heads, concatenated, projected back: (B, T, C) -> (B, T, C).

    The fast path computes every head's Q, K and V in one fused projection and calls
    `scaled_dot_product_attention`; `per_head` rebuilds the same heads as
    `SingleHeadAttention` modules for inspection (attention maps), with identical results.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        mask: str = "causal",
        scale: bool = True,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embedding_dim // num_heads
        self.dropout = dropout
        self.mask = mask  # see SingleHeadAttention
        self.scale = scale
        # rows: all heads' queries, then all keys, then all values
        self.qkv = nn.Linear(embedding_dim, 3 * embedding_dim, bias=False)
        self.proj = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.residual_dropout = nn.Dropout(dropout)
        # a replacement for `attend` with the same signature (core.fast.attention installs one
        # for CPU bf16 training); None: the readable path below
        self.kernel: Callable[..., torch.Tensor] | None = None

    def forward(
        self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        batch_size, seq_len, embedding_dim = x.shape
        qkv = self.qkv(x).view(batch_size, seq_len, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
        start = 0
        if kv_cache is not None:
            start = kv_cache.length
            k, v = kv_cache.append(layer, k, v)  # (B, H, S, D)
        dropout = self.dropout if self.training else 0.0
        attend = self.kernel or self.attend  # a fast path installed from outside, or this one
        out = attend(q, k, v, start, dropout)  # (B, H, T, D)
        out = out.transpose(1, 2).reshape(batch_size, seq_len, embedding_dim)  # (B, T, C)
        return self.residual_dropout(self.proj(out))  # (B, T, C)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int, dropout: float
    ) -> torch.Tensor:
        """Attention of q (B, H, T, D) over k, v (B, H, S, D); the first query is at position
        `start`."""
        seq_len = q.shape[2]
        scale = None if self.scale else 1.0  # None: SDPA's own 1/sqrt(D)
        if self.mask == "zero":
            return self._attend_zero_filled(q, k, v, start, dropout)
        if self.mask == "none" or seq_len == 1:
            # one new position sees every cached one: no mask needed
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scale)
        if start == 0:
            return F.scaled_dot_product_attention(
                q, k, v, dropout_p=dropout, is_causal=True, scale=scale
            )  # (B, H, T, D)
        mask = causal_mask(start + seq_len, q.device)[start:]  # (T, S)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, scale=scale
        )  # (B, H, T, D)

    def _attend_zero_filled(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int, dropout: float
    ) -> torch.Tensor:
        """The mask-zero variant, written out: future scores become 0, not -inf."""
        scores = q @ k.transpose(-2, -1)  # (B, H, T, S)
        if self.scale:
            scores = scores / math.sqrt(self.head_dim)  # (B, H, T, S)
        mask = causal_mask(k.shape[2], q.device)[start : start + q.shape[2]]  # (T, S)
        weights = torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1)  # (B, H, T, S)
        weights = F.dropout(weights, dropout, training=dropout > 0)  # (B, H, T, S)
        return weights @ v  # (B, H, T, D)

    def single_heads(self) -> nn.ModuleList:
        """The heads as separate `SingleHeadAttention` modules holding copies of the weights."""
        embedding_dim = self.num_heads * self.head_dim
        heads = nn.ModuleList()
        weight = self.qkv.weight.detach()  # (3C, C)
        for h in range(self.num_heads):
            head = SingleHeadAttention(embedding_dim, self.head_dim, self.mask, self.scale)
            head = head.to(weight.device, weight.dtype)
            rows = slice(h * self.head_dim, (h + 1) * self.head_dim)
            with torch.no_grad():
                head.query.weight.copy_(weight[:embedding_dim][rows])
                head.key.weight.copy_(weight[embedding_dim : 2 * embedding_dim][rows])
                head.value.weight.copy_(weight[2 * embedding_dim :][rows])
            heads.append(head)
        return heads

    def per_head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The slow, readable path: concatenated single heads, then the projection.

        Returns the output (B, T, C) and every head's attention weights (B, H, T, T).
        """
        outputs, maps = [], []
        for head in self.single_heads():
            out, weights = head(x, return_weights=True)  # (B, T, D), (B, T, T)
            outputs.append(out)
            maps.append(weights)
        out = self.proj(torch.cat(outputs, dim=-1))  # (B, T, C)
        return out, torch.stack(maps, dim=1)  # (B, T, C), (B, H, T, T)


class FeedForward(nn.Module):
    """Per-position MLP: embedding_dim -> hidden_dim -> GELU -> embedding_dim."""

    def __init__(self, embedding_dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.up = nn.Linear(embedding_dim, hidden_dim)
        self.down = nn.Linear(hidden_dim, embedding_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))  # (B, T, C)


class Transformer(nn.Module):
    """One pre-norm transformer block: x + attn(ln1(x)), then x + ffn(ln2(x)).

    The config's design switches give the variants experiments compare: post-norm
    (ln1(x + attn(x))), no residual paths, no feed-forward.
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        width = config.embedding_dim
        self.pre_norm = config.norm_placement == "pre"
        self.residual = config.residual
        self.ln1 = nn.LayerNorm(width)
        self.attention = MultiHeadAttention(
            width, config.num_heads, config.dropout, config.attention_mask, config.attention_scale
        )
        self.ln2 = nn.LayerNorm(width) if config.feed_forward else None
        self.ffn = (
            FeedForward(width, config.hidden_dim, config.dropout) if config.feed_forward else None
        )

    def forward(
        self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        # pre-norm keeps the residual path an identity at init, so gradients reach every layer
        x = self._sublayer(x, self.ln1, lambda h: self.attention(h, kv_cache, layer))
        if self.ffn is not None:
            x = self._sublayer(x, self.ln2, self.ffn)  # (B, T, C)
        return x

    def _sublayer(self, x: torch.Tensor, norm: nn.LayerNorm, f) -> torch.Tensor:
        if self.pre_norm:
            out = f(norm(x))  # (B, T, C)
            return x + out if self.residual else out  # (B, T, C)
        return norm(x + f(x) if self.residual else f(x))  # (B, T, C)


class MiniGPT(nn.Module):
    """Embeddings -> blocks -> final LayerNorm -> linear head: (B, T) -> logits (B, T, V)."""

    def __init__(self, config: Config, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embeddings = Embeddings(
            vocab_size,
            config.embedding_dim,
            config.block_size,
            config.position_embedding,
            config.embedding_combine,
        )
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Transformer(config) for _ in range(config.num_layers))
        self.ln_final = nn.LayerNorm(config.embedding_dim)
        self.head = nn.Linear(config.embedding_dim, vocab_size, bias=False)
        self.apply(self._init_weights)
        # small residual branches keep a fresh block's output close to its input
        residual_std = 0.02 / math.sqrt(2 * config.num_layers)
        for block in self.blocks:
            nn.init.normal_(block.attention.proj.weight, std=residual_std)
            if block.ffn is not None:
                nn.init.normal_(block.ffn.down.weight, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def new_kv_cache(self, capacity: int | None = None) -> KVCache:
        return KVCache(len(self.blocks), capacity or self.config.block_size)

    def forward(self, idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        start = kv_cache.length if kv_cache is not None else 0
        x = self.embedding_dropout(self.embeddings(idx, start))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, kv_cache, layer)  # (B, T, C)
        if kv_cache is not None:
            kv_cache.advance(idx.shape[1])
        return self.head(self.ln_final(x))  # (B, T, V)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward): 6 x weights + attention's 12 L T C."""
        seq_len = seq_len or self.config.block_size
        position = self.embeddings.position
        position_weights = position.weight.numel() if position is not None else 0
        config = self.config
        attention = 12 * config.num_layers * seq_len * config.embedding_dim
        return 6 * (self.num_parameters() - position_weights) + attention


def cross_entropy_for_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The training loss: mean negative log-likelihood of each target token under the logits'
    softmax, in fp32 whatever the logits' precision."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
