"""The KV cache: every layer's keys and values for the tokens seen so far."""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to a capacity.

    Prefill writes a whole prompt at once; decode appends one position per step. `rewind`
    only moves the length back: the stale rows are overwritten by the next append.
    """

    def __init__(self, num_layers: int, capacity: int) -> None:
        self.num_layers = num_layers
        self.capacity = capacity
        self.length = 0
        self.keys: torch.Tensor | None = None  # (L, B, H, capacity, D), allocated on first use
        self.values: torch.Tensor | None = None

    def allocate(
        self,
        batch_size: int,
        num_heads: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        """Make room for `batch_size` sequences of this dtype (keeps the buffers if they fit)."""
        if (
            self.keys is not None
            and self.keys.dtype == dtype
            and self.keys.device == device
            and self.keys.shape[1:3] == (batch_size, num_heads)
            and self.keys.shape[-1] == head_dim
        ):
            return
        shape = (self.num_layers, batch_size, num_heads, self.capacity, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)  # (L, B, H, S, D)
        self.values = torch.zeros(shape, dtype=dtype, device=device)  # (L, B, H, S, D)
        # per-layer views of the first sequence for the one-token decoder: indexing costs per token
        self.first_sequence = tuple(
            zip(self.keys[:, 0].unbind(0), self.values[:, 0].unbind(0), strict=True)
        )  # each (H, S, D)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store this layer's new keys and values; return all of them so far, (B, H, S, D)."""
        batch_size, num_heads, seq_len, head_dim = k.shape
        self.allocate(batch_size, num_heads, head_dim, k.dtype, k.device)
        end = self.length + seq_len
        if end > self.capacity:
            raise ValueError(
                f"the KV cache holds {self.capacity} positions; {end} were asked for "
                "(slide the window or reset first)"
            )
        self.keys[layer, :, :, self.length : end] = k
        self.values[layer, :, :, self.length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]  # (B, H, S, D)

    def advance(self, seq_len: int) -> None:
        self.length += seq_len

    def rewind(self, n: int) -> None:
        if not 0 <= n <= self.length:
            raise ValueError(f"cannot rewind {n} positions; the cache holds {self.length}")
        self.length -= n

    def reset(self) -> None:
        self.length = 0
