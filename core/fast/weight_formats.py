"""The formats generation may read its weight matrices in: fp32, bf16 and int8.

A cached decode step is memory-bound: every token reads every matrix once, so fewer bytes per
weight is a faster step once the arithmetic keeps up. bf16 halves the bytes and keeps fp32's
range; int8 stores each output row as 8-bit integers with one fp32 scale (symmetric, per
channel) and runs through PyTorch's own quantized kernels (fbgemm or oneDNN on x86), which also
quantize the input vector on the fly. Each costs some accuracy; `quality_cost` measures it on
the model itself, and `choose_weights` takes a format only when that cost is within bounds and
the decode step measured faster.

The embeddings, layer norms, biases and the KV cache stay fp32, as does every path but the
one-token decoder: the prefill and the readable forward always read fp32.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from core.config import WEIGHT_FORMATS
from core.model import MiniGPT

__all__ = ["WEIGHT_FORMATS"]  # defined with the settings, which import no torch
MAX_BPC_COST = 0.01  # bits per character `auto` accepts for a format's speed
# below this many bytes of matrices a decode step is per-operation overhead, not streaming:
# `auto` keeps fp32 without measuring (and tiny models decode the same on every machine)
AUTO_MIN_BYTES = 4 * 2**20


class FormatMatrix:
    """One weight matrix (out, in) in a format, multiplied by a vector or a batch of rows."""

    format = "fp32"
    shape: tuple[int, int]
    nbytes: int  # what one product reads
    dtype = torch.float32  # of the vectors it takes and returns
    device = torch.device("cpu")

    def times(self, x: torch.Tensor) -> torch.Tensor:
        """W x for x (in,): (out,) in fp32."""
        return self.rows(x.view(1, -1)).view(-1)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """x W^T for x (N, in): (N, out) in fp32."""
        raise NotImplementedError

    def numel(self) -> int:
        return self.shape[0] * self.shape[1]


def matrix_bytes(matrix: FormatMatrix | torch.Tensor) -> int:
    """The bytes one product with this matrix reads."""
    if isinstance(matrix, FormatMatrix):
        return matrix.nbytes
    return matrix.numel() * matrix.element_size()


class Bf16Matrix(FormatMatrix):
    format = "bf16"

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight.detach().to(torch.bfloat16).contiguous()  # (out, in)
        self.shape = tuple(weight.shape)
        self.nbytes = self.weight.numel() * 2

    def times(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mv(self.weight, x.to(torch.bfloat16)).float()  # (out,)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.bfloat16) @ self.weight.t()).float()  # (N, out)


class Int8Matrix(FormatMatrix):
    format = "int8"

    def __init__(self, weight: torch.Tensor) -> None:
        weight = weight.detach().float().cpu()  # (out, in)
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12)  # (out,) one per row
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            # quantized tensors are deprecated in favour of torchao, whose CPU int8 paths were
            # many times slower here at batch 1; these kernels remain PyTorch's own
            warnings.simplefilter("ignore")
            quantized = torch.quantize_per_channel(
                weight, scales.double(), zero_points, 0, torch.qint8
            )
            self.packed = torch.ops.quantized.linear_prepack(quantized, None)
        self.shape = tuple(weight.shape)
        self.nbytes = weight.numel() + weight.shape[0] * 4  # int8 values and fp32 scales

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        # reduce_range: 7-bit activations, so fbgemm's 16-bit accumulation cannot overflow
        return torch.ops.quantized.linear_dynamic(x.contiguous(), self.packed, True)  # (N, out)


FORMAT_MATRICES = {"bf16": Bf16Matrix, "int8": Int8Matrix}


def format_matrix(weight: torch.Tensor, weights: str, built: dict | None = None) -> FormatMatrix:
    """`weight` (out, in) in format `weights` ("bf16" or "int8"); `built` keeps each one made,
    by tensor and format, for the next caller that asks for the same."""
    if built is None:
        return FORMAT_MATRICES[weights](weight)
    key = (id(weight), weights)
    if key not in built:
        built[key] = (weight, FORMAT_MATRICES[weights](weight))  # the tensor keeps its id valid
    return built[key][1]


def available_formats(model: MiniGPT) -> tuple[str, ...]:
    """The formats this build of PyTorch can run for this model's weights: fp32 always; bf16
    and int8 on the CPU (int8 where a quantized engine is built in)."""
    if next(model.parameters()).device.type != "cpu":
        return ("fp32",)
    formats = ["fp32", "bf16"]
    if _int8_engine():
        formats.append("int8")
    return tuple(formats)


def _int8_engine() -> bool:
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "onednn"):
        if engine in engines:
            if torch.backends.quantized.engine != engine:
                torch.backends.quantized.engine = engine
            return True
    return False


class FormatLinear(nn.Module):
    """An `nn.Linear` whose product reads its weight in a format: the model's forward, batched,
    over the same kernels the decoder uses, to measure what the format costs."""

    def __init__(self, linear: nn.Linear, weights: str, built: dict | None = None) -> None:
        super().__init__()
        self.matrix = format_matrix(linear.weight, weights, built)
        self.bias = None if linear.bias is None else linear.bias.detach().float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.matrix.rows(x.reshape(-1, x.shape[-1]).float())  # (N, out)
        if self.bias is not None:
            out = out + self.bias
        return out.view(*x.shape[:-1], -1)


def formatted_model(model: MiniGPT, weights: str, built: dict | None = None) -> MiniGPT:
    """`model` with every matrix (attention, FeedForward, head) read in `weights`, as a
    shallow copy: embeddings and layer norms are the model's own fp32 modules."""
    if weights == "fp32":
        return model
    formatted = copy.copy(model)

    def swap(module: nn.Module) -> nn.Module:
        if isinstance(module, nn.Linear):
            return FormatLinear(module, weights, built)
        if not any(isinstance(each, nn.Linear) for each in module.modules()):
            return module  # shared: nothing under it changes
        copied = copy.copy(module)
        copied._modules = {name: swap(child) for name, child in module._modules.items()}
        return copied

    formatted._modules = {name: swap(child) for name, child in model._modules.items()}
    return formatted.eval()


@torch.inference_mode()
def quality_cost(
    model: MiniGPT, weights: str, ids: torch.Tensor, characters_per_token: float = 1.0
) -> float:
    """Bits per character the format adds on the token sequences `ids` (N, T): the mean of
    -log2 p(next token) with the format's weights minus the same with fp32. Negative values
    are noise in the format's favour."""
    if weights == "fp32":
        return 0.0
    return quality_costs(model, (weights,), ids, characters_per_token)[0]


@torch.inference_mode()
def quality_costs(
    model: MiniGPT,
    formats: tuple[str, ...],
    ids: torch.Tensor,
    characters_per_token: float = 1.0,
    built: dict | None = None,
) -> list[float]:
    """`quality_cost` of each format, with the fp32 pass run once."""
    model = model.eval()
    inputs, targets = ids[:, :-1], ids[:, 1:]  # (N, T - 1) each

    def nats(each: MiniGPT) -> float:
        logits = each(inputs).float()  # (N, T - 1, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item()

    fp32 = nats(model)
    return [
        0.0
        if weights == "fp32"
        else (nats(formatted_model(model, weights, built)) - fp32)
        / math.log(2)
        / characters_per_token
        for weights in formats
    ]
