"""What a race measures beside the loss, where a number alone does not explain the lesson:
attention sharpness, gradient flow through depth, per-parameter step sizes, and a gradient
spike injected at a chosen step. Each reads the real session and hands back plain values."""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from core.model import MiniGPT
from core.scenarios import ATTENTION, GRAD_FLOW, SPIKE, STEP_SIZES, Spike
from core.xray.shapes import recording

__all__ = ["ATTENTION", "GRAD_FLOW", "SPIKE", "STEP_SIZES", "Spike"]  # named in scenarios.py
GRAD_FLOW_STEPS = 10  # the first steps, where a deep stack either passes gradient or does not
# log10 |update| bins: Adam's steps sit near the learning rate, SGD's spread over decades
STEP_SIZE_EDGES = tuple(x / 2 for x in range(-18, 1))  # 1e-9 .. 1


@contextmanager
def spiked_gradients(model: MiniGPT, factor: float):
    """Multiply every gradient by `factor` as backward computes it, for one step."""
    handles = [p.register_hook(lambda grad: grad * factor) for p in model.parameters()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def block_grad_norms(model: MiniGPT, pre_clip_norm: float) -> list[float]:
    """Each block's gradient norm before clipping, first block first. The gradients left
    after the step are clipped; clipping scales all of them alike, so the pre-clip total
    rescales them back."""
    blocks = [[p.grad for p in block.parameters() if p.grad is not None] for block in model.blocks]
    every = [p.grad for p in model.parameters() if p.grad is not None]
    total = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in every]))) if every else 0
    rescale = pre_clip_norm / total if total > 0 else 1.0
    return [
        float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))) * rescale
        if grads
        else 0.0
        for grads in blocks
    ]


def weights_copy(model: MiniGPT) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def step_size_histogram(model: MiniGPT, before: list[torch.Tensor]) -> list[float]:
    """The share of weights whose last update |Δw| fell in each STEP_SIZE_EDGES bin (the
    first bin also holds smaller ones, the last larger ones; unmoved weights are left out)."""
    deltas = torch.cat(
        [(p.detach() - b).abs().flatten() for p, b in zip(model.parameters(), before, strict=True)]
    )
    moved = deltas[deltas > 0].double().log10()
    if moved.numel() == 0:
        return [0.0] * (len(STEP_SIZE_EDGES) - 1)
    edges = torch.tensor(STEP_SIZE_EDGES, dtype=torch.float64)
    moved = moved.clamp(edges[0].item(), edges[-1].item() - 1e-9)
    counts = torch.histc(moved, bins=len(edges) - 1, min=edges[0].item(), max=edges[-1].item())
    return (counts / moved.numel()).tolist()


@torch.no_grad()
def attention_sharpness(model: MiniGPT, idx: torch.Tensor) -> dict[str, float]:
    """The spread (standard deviation) of the scores softmax is given, and the mean entropy
    of its rows in bits, over every head of every layer, on the batch `idx` (B, T)."""
    attentions = {f"{i}": block.attention for i, block in enumerate(model.blocks)}
    with recording(attentions) as seen:
        model(idx)
    spreads, entropies = [], []
    for name, attention in attentions.items():
        x = seen[name][0][0]  # (B, T, C): what the layer's attention was given
        for head in attention.single_heads():
            _, scaled, _, weights = head.stages(x)  # (B, T, T) each
            visible = torch.ones_like(scaled[0], dtype=torch.bool).tril()  # (T, T)
            spreads.append(float(scaled[:, visible].std()))
            entropies.append(float(torch.special.entr(weights).sum(-1).mean() / math.log(2)))
    return {
        "score_spread": sum(spreads) / len(spreads),
        "entropy_bits": sum(entropies) / len(entropies),
        # a uniform row over the T/2 positions a query sees on average, for scale
        "uniform_bits": math.log2(max(2, idx.shape[1]) / 2),
    }
