"""The generation hot path: one token through the model, over weights gathered by its owner.

`Decoder` is `MiniGPT.forward` for B = T = 1 without dropout, written with functional ops.
At generation sizes a step is matrix-vector products that stream every weight once, plus
per-operation overhead. How fast a CPU streams a weight depends on its layout: stored
(out, in) and multiplied as `W @ x`, or stored transposed (in, out) and multiplied as
`x @ W_t`, by torch's BLAS or by numpy's (often faster at batch 1); `layout="auto"` measures
each at the model's shapes and keeps the fastest. The numpy layout runs the whole step in numpy,
GELU included: a torch op that runs in parallel (GELU does, even on 2,048 values) leaves torch's
OpenMP worker spinning on the core that numpy's BLAS thread needs, which made steps many times
slower (docs/performance.md). The readable twin is `MiniGPT.forward` with a KV cache; tests
check they give the same logits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

from core.fast.numpy_ops import gelu as _gelu
from core.fast.numpy_ops import layer_norm as _layer_norm
from core.fast.weight_formats import WEIGHT_FORMATS, FormatMatrix, format_matrix, matrix_bytes
from core.kv_cache import KVCache
from core.model import MiniGPT

LAYOUTS = ("rows", "columns", "numpy")  # numpy: the columns layout through numpy's BLAS
_measured: dict[tuple, str] = {}  # shape key -> the layout measured fastest in this process
_blas_threads: int | None = None  # numpy's BLAS threads, once this module has set them
_rows_measured: dict[tuple, bool] = {}  # (shape, count, BLAS threads) -> faster as (out, in)


def _norm(module: nn.LayerNorm) -> tuple:
    return module.normalized_shape, module.weight, module.bias, module.eps


@dataclass(frozen=True)
class LayerWeights:
    """One block's weights as a decoder reads them: torch tensors in the decoder's layout, or
    `Oriented` numpy matrices in the numpy step."""

    norm1: tuple  # the first LayerNorm's arguments
    qkv: Any  # (3C, C) as rows, (C, 3C) as columns
    proj: Any  # (C, C)
    norm2: tuple
    up: Any  # (hidden, C) as rows, (C, hidden) as columns
    up_bias: Any  # (hidden,)
    down: Any  # (C, hidden) as rows, (hidden, C) as columns
    down_bias: Any  # (C,)

    @property
    def matrices(self) -> tuple:
        """The four matrices a step streams, in the order it reads them."""
        return self.qkv, self.proj, self.up, self.down


@dataclass(frozen=True)
class Oriented:
    """A numpy matrix and the way it is stored: (out, in) and multiplied as `W @ x` when
    `rows`, else (in, out) and multiplied as `x @ W`."""

    array: np.ndarray
    rows: bool

    def times(self, x: np.ndarray) -> np.ndarray:
        """The product with input vector x: (out,)."""
        return self.array @ x if self.rows else x @ self.array

    @property
    def inputs(self) -> int:
        """The length of the vector it multiplies."""
        return self.array.shape[1] if self.rows else self.array.shape[0]


class Decoder:
    """Next-token logits for one appended token, from a model's weights gathered once.

    The owner (a generation session) builds it after the model's weights and device are
    final, and builds a new one if they change. With `layout="rows"` the tensors are the
    model's own; with "columns" they are transposed copies, which "numpy" multiplies through
    numpy arrays sharing their memory (fp32 on the CPU only). `weights` other than fp32 read
    each matrix in that format (weight_formats.py); `built` shares matrices already made.
    """

    def __init__(
        self, model: MiniGPT, layout: str = "auto", weights: str = "fp32", built: dict | None = None
    ) -> None:
        if weights not in WEIGHT_FORMATS:
            raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, got {weights!r}")
        self.weights, self._built = weights, built
        if weights != "fp32":
            layout = "rows"  # a format's matrices are (out, in), multiplied by its own kernel
        elif layout == "auto":
            layout = fastest_layout(model)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be auto, rows, columns or numpy, got {layout!r}")
        if layout == "numpy":
            if not _numpy_can_run(model):
                raise ValueError("the numpy layout needs fp32 weights on the CPU")
            _match_blas_threads()
        self.layout = layout
        self.config = model.config
        self.embeddings = model.embeddings
        matrix = self._matrix
        self.layers = tuple(
            LayerWeights(
                norm1=_norm(block.ln1),
                qkv=matrix(block.attention.qkv.weight),
                proj=matrix(block.attention.proj.weight),
                norm2=_norm(block.ln2),
                up=matrix(block.ffn.up.weight),
                up_bias=block.ffn.up.bias,
                down=matrix(block.ffn.down.weight),
                down_bias=block.ffn.down.bias,
            )
            for block in model.blocks
        )
        self.head = matrix(model.head.weight)  # (V, C) as rows, (C, V) as columns
        self.final_norm = _norm(model.ln_final)
        if layout == "numpy":
            self._numpy = _NumpyWeights(self)
        self.weight_bytes = sum(
            matrix_bytes(matrix) for layer in self.layers for matrix in layer.matrices
        ) + matrix_bytes(self.head)

    def _matrix(self, weight: torch.Tensor) -> torch.Tensor:
        weight = weight.detach()
        if self.weights != "fp32":
            return format_matrix(weight, self.weights, self._built)
        return weight if self.layout == "rows" else weight.t().contiguous()  # (in, out)

    def _times(self, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """weight x for a weight stored in this decoder's layout: (out,)."""
        if isinstance(weight, FormatMatrix):
            return weight.times(x)  # (out,)
        if self.layout == "rows":
            return torch.mv(weight, x)  # (out,)
        if self.layout == "numpy":
            return torch.from_numpy(np.matmul(x.numpy(), weight.numpy()))  # (out,)
        return x @ weight  # (out,)

    def _affine(self, weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if isinstance(weight, FormatMatrix):
            return weight.times(x) + bias  # (out,)
        if self.layout == "rows":
            return torch.addmv(bias, weight, x)  # (out,)
        if self.layout == "numpy":
            out = np.matmul(x.numpy(), weight.numpy())  # (out,)
            return torch.from_numpy(np.add(out, bias.detach().numpy(), out=out))  # (out,)
        return torch.addmm(bias.view(1, -1), x.view(1, -1), weight).view(-1)  # (out,)

    def products(self) -> Callable[[], None]:
        """The step's matrix-vector products alone, in this layout, on vectors of the right
        sizes: what streaming the weights costs here with nothing else around it."""
        if self.layout == "numpy":
            weights = self._numpy
            oriented = [m for layer in weights.layers for m in layer.matrices] + [weights.head]
            vectors = {m.inputs: np.ones(m.inputs, dtype=np.float32) for m in oriented}

            def run() -> None:
                for matrix in oriented:
                    matrix.times(vectors[matrix.inputs])

            return run
        matrices = [m for layer in self.layers for m in layer.matrices]
        matrices.append(self.head)
        side = 1 if self.layout == "rows" else 0  # the input dimension
        vectors = {
            m.shape[side]: torch.ones(m.shape[side], dtype=m.dtype, device=m.device)
            for m in matrices
        }

        def run_torch() -> None:
            with torch.inference_mode():
                for matrix in matrices:
                    self._times(matrix, vectors[matrix.shape[side]])

        return run_torch

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
        if self.layout == "numpy":
            _match_blas_threads()  # torch's threads may have changed since the last step
            return self._numpy.step(token_id, position, kv_cache)
        scale = head_dim**-0.5
        end = position + 1
        times, affine = self._times, self._affine
        token, positions = self.embeddings.token.weight, self.embeddings.position.weight
        x = token[token_id] + positions[position]  # (C,)
        for (keys, values), layer in zip(kv_cache.first_sequence, self.layers, strict=True):
            qkv_out = times(layer.qkv, F.layer_norm(x, *layer.norm1))  # (3C,)
            q, k, v = qkv_out.view(3, num_heads, 1, head_dim).unbind(0)  # each (H, 1, D)
            keys, values = keys.narrow(1, 0, end), values.narrow(1, 0, end)  # (H, S, D)
            keys.narrow(1, position, 1).copy_(k)
            values.narrow(1, position, 1).copy_(v)
            # the one new query sees every cached position: no mask
            scores = torch.bmm(q * scale, keys.transpose(1, 2))  # (H, 1, S)
            out = torch.bmm(torch.softmax(scores, dim=-1), values)  # (H, 1, D)
            x = x + times(layer.proj, out.view(-1))  # (C,)
            normed = F.layer_norm(x, *layer.norm2)  # (C,)
            hidden = F.gelu(affine(layer.up, layer.up_bias, normed))  # (hidden_dim,)
            x = x + affine(layer.down, layer.down_bias, hidden)  # (C,)
        kv_cache.advance(1)
        return times(self.head, F.layer_norm(x, *self.final_norm))  # (V,)


class _NumpyWeights:
    """A decoder's weights as numpy arrays, and its step in numpy.

    Each matrix is the decoder's transposed copy, (in, out) multiplied as `x @ W_t`, or for a
    shape that streams faster the other way, an (out, in) copy multiplied as `W @ x`: measured
    per shape (`_faster_as_rows`), since the faster way differs between shapes and CPUs.
    """

    def __init__(self, decoder: Decoder) -> None:
        def norm(normalized) -> tuple:
            _, weight, bias, eps = normalized
            return weight.detach().numpy(), bias.detach().numpy(), eps

        self.config = decoder.config
        self.token = decoder.embeddings.token.weight.detach().numpy()  # (V, C)
        self.position = decoder.embeddings.position.weight.detach().numpy()  # (T, C)
        by_shape: dict[tuple[int, int], list[np.ndarray]] = {}
        for layer in decoder.layers:
            for matrix in layer.matrices:
                by_shape.setdefault(tuple(matrix.shape), []).append(matrix.numpy())
        rows = {shape for shape, matrices in by_shape.items() if _faster_as_rows(matrices)}

        def oriented(matrix: torch.Tensor) -> Oriented:
            array = matrix.numpy()  # (in, out)
            if tuple(matrix.shape) not in rows:
                return Oriented(array, rows=False)
            return Oriented(np.ascontiguousarray(array.T), rows=True)  # (out, in)

        self.layers = tuple(
            LayerWeights(
                norm1=norm(layer.norm1),
                qkv=oriented(layer.qkv),
                proj=oriented(layer.proj),
                norm2=norm(layer.norm2),
                up=oriented(layer.up),
                up_bias=layer.up_bias.detach().numpy(),
                down=oriented(layer.down),
                down_bias=layer.down_bias.detach().numpy(),
            )
            for layer in decoder.layers
        )
        self.head = Oriented(decoder.head.numpy(), rows=False)  # (C, V)
        self.final_norm = norm(decoder.final_norm)
        self._cache_views: tuple | None = None  # (the cache's keys tensor, keys, values)

    def cache(self, kv_cache: KVCache) -> tuple[np.ndarray, np.ndarray]:
        """The first sequence's keys and values as numpy views, (L, H, S, D) each."""
        if self._cache_views is None or self._cache_views[0] is not kv_cache.keys:
            keys, values = kv_cache.keys[:, 0].numpy(), kv_cache.values[:, 0].numpy()
            self._cache_views = (kv_cache.keys, keys, values)
        return self._cache_views[1], self._cache_views[2]

    def step(self, token_id: int, position: int, kv_cache: KVCache) -> torch.Tensor:
        config = self.config
        num_heads, head_dim = config.num_heads, config.head_dim
        scale = np.float32(head_dim**-0.5)
        end = position + 1
        all_keys, all_values = self.cache(kv_cache)
        x = self.token[token_id] + self.position[position]  # (C,)
        for index, layer in enumerate(self.layers):
            normed = _layer_norm(x, *layer.norm1)  # (C,)
            q, k, v = layer.qkv.times(normed).reshape(3, num_heads, head_dim)  # each (H, D)
            keys, values = all_keys[index], all_values[index]  # (H, S, D)
            keys[:, position] = k
            values[:, position] = v
            # the one new query sees every cached position: no mask
            scores = np.matmul(keys[:, :end], (q * scale)[:, :, None])[:, :, 0]  # (H, S)
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1, keepdims=True)
            out = np.matmul(scores[:, None, :], values[:, :end])  # (H, 1, D)
            x = x + layer.proj.times(out.reshape(-1))  # (C,)
            hidden = layer.up.times(_layer_norm(x, *layer.norm2))  # (hidden_dim,)
            hidden += layer.up_bias
            hidden = _gelu(hidden)
            hidden = layer.down.times(hidden)  # (C,)
            hidden += layer.down_bias
            x = x + hidden
        kv_cache.advance(1)
        return torch.from_numpy(self.head.times(_layer_norm(x, *self.final_norm)))  # (V,)


def _faster_as_rows(matrices: list[np.ndarray], rounds: int = 5) -> bool:
    """Whether these (in, out) matrices of one shape stream faster stored (out, in) and
    multiplied as `W @ x` here: both ways over all of them, alternating, medians compared;
    measured once per process, shape, count and BLAS thread count."""
    key = (matrices[0].shape, len(matrices), _blas_threads)
    if key not in _rows_measured:
        transposed = [np.ascontiguousarray(m.T) for m in matrices]  # (out, in)
        x = np.ones(matrices[0].shape[0], dtype=np.float32)  # (in,)
        columns_seen, rows_seen = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            for matrix in matrices:
                x @ matrix
            columns_seen.append(time.perf_counter() - started)
            started = time.perf_counter()
            for matrix in transposed:
                matrix @ x
            rows_seen.append(time.perf_counter() - started)
        _rows_measured[key] = statistics.median(rows_seen) < statistics.median(columns_seen)
    return _rows_measured[key]


def fastest_layout(model: MiniGPT, rounds: int = 6) -> str:
    """The layout whose decode steps ran faster at this model's shapes, measured once per
    process and shape (alternating steps of each, medians compared)."""
    config = model.config
    weight = model.head.weight
    key = (
        config.embedding_dim,
        config.hidden_dim,
        config.num_layers,
        model.vocab_size,
        weight.dtype,
        weight.device.type,
        torch.get_num_threads(),
    )
    if key not in _measured:
        layouts = [layout for layout in LAYOUTS if layout != "numpy" or _numpy_can_run(model)]
        decoders = [Decoder(model, layout) for layout in layouts]
        caches = [model.new_kv_cache() for _ in decoders]
        times: list[list[float]] = [[] for _ in decoders]
        for round_index in range(rounds + 1):
            for decoder, cache, seen in zip(decoders, caches, times, strict=True):
                started = time.perf_counter()
                decoder(0, cache)
                if round_index:  # the first step of each pays one-off set-up
                    seen.append(time.perf_counter() - started)
                cache.reset()
        medians = [statistics.median(seen) for seen in times]
        _measured[key] = layouts[medians.index(min(medians))]
    return _measured[key]


def _match_blas_threads() -> None:
    """numpy's BLAS on as many threads as torch's intra-op pool, so --threads governs both: with
    more of its own beside a busy core, its threads waited on each other and a step took 10x
    longer."""
    global _blas_threads
    threads = torch.get_num_threads()
    if _blas_threads != threads:
        threadpool_limits(threads, user_api="blas")
        _blas_threads = threads


def _numpy_can_run(model: MiniGPT) -> bool:
    weight = model.head.weight
    return weight.device.type == "cpu" and weight.dtype == torch.float32
