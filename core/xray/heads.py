"""Inside the attention heads, through forward hooks: one head's Q, K and V and what arrives at a
query, the heads concatenated and projected; and heads knocked out, with what that costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from core.errors import UserError
from core.model import MiniGPT
from core.tokenizer import Tokenizer
from core.xray.shapes import recording
from core.xray.views import _check_layer_head, _ids, _tokens, prediction_tape_of_ids


@dataclass(frozen=True)
class HeadInside:
    """One head at one query, as plain values; every vector a list of floats."""

    tokens: list[str]
    cropped: int  # tokens cut from the front to fit block_size
    layer: int
    head: int
    query: int
    head_dim: int  # D
    width: int  # C = H x D
    q: list[float]  # the query's Q vector (D)
    keys: list[list[float]]  # K of positions 0..query (query + 1, D)
    values: list[list[float]]  # V rows of positions 0..query (query + 1, D)
    weights: list[float]  # softmax over those keys, summing to 1 (query + 1)
    arrived: list[float]  # weights @ V: what this head hands on at the query (D)
    heads: list[list[float]]  # every head's output at the query, in order (H, D)
    concatenated: list[float]  # the heads side by side, what the projection reads (C)
    projected: list[float]  # after the output projection [C, C]: what joins the stream (C)


@torch.inference_mode()
def inside_head(
    model: MiniGPT,
    tokenizer: Tokenizer,
    text: str,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
) -> HeadInside:
    """What one head computes for one query of `text` (the last position by default): Q, K and
    V read from the layer's fused projection, the heads' concatenation and the projection's
    output read from the projection itself, all on one real forward pass."""
    _check_layer_head(model, layer, head)
    ids, cropped = _ids(model, tokenizer, text)
    query = len(ids) - 1 if query is None else query
    if not 0 <= query < len(ids):
        raise UserError(f"query must be in 0..{len(ids) - 1}, got {query}")
    attention = model.blocks[layer].attention
    heads, size = attention.num_heads, attention.head_dim
    watched = {"attention": attention, "qkv": attention.qkv, "proj": attention.proj}
    device = next(model.parameters()).device
    with recording(watched) as seen:
        model(torch.tensor([ids], device=device))  # (1, T, V)
    qkv = seen["qkv"][1][0].view(len(ids), 3, heads, size)  # (T, 3, H, D)
    rows = slice(0, query + 1)
    q, k, v = qkv[query, 0, head], qkv[rows, 1, head], qkv[rows, 2, head]  # (D), (Q, D), (Q, D)
    # the weights by the head's readable twin, on the input the layer really had
    readable = attention.single_heads()[head]
    weights = readable.stages(seen["attention"][0][0])[3][0, query, rows]  # (Q,)
    concatenated = seen["proj"][0][0][0, query]  # (C,)
    return HeadInside(
        tokens=_tokens(tokenizer, ids),
        cropped=cropped,
        layer=layer,
        head=head,
        query=query,
        head_dim=size,
        width=heads * size,
        q=q.tolist(),
        keys=k.tolist(),
        values=v.tolist(),
        weights=weights.tolist(),
        arrived=(weights @ v).tolist(),
        heads=concatenated.view(heads, size).tolist(),
        concatenated=concatenated.tolist(),
        projected=seen["proj"][1][0, query].tolist(),
    )


@contextmanager
def knocked_out(model: MiniGPT, heads: list[tuple[int, int]]) -> Iterator[None]:
    """While open, the listed (layer, head) pairs hand on zeros: a hook on each layer's output
    projection zeroes that head's slice of the concatenation it reads."""
    for layer, head in heads:
        _check_layer_head(model, layer, head)
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def silence(chosen: list[int], size: int):
        def hook(_module, inputs):
            concatenated = inputs[0].clone()  # (B, T, C): never change the caller's tensor
            for head in chosen:
                concatenated[..., head * size : (head + 1) * size] = 0
            return (concatenated,)

        return hook

    handles = [
        model.blocks[layer].attention.proj.register_forward_pre_hook(
            silence(chosen, model.blocks[layer].attention.head_dim)
        )
        for layer, chosen in by_layer.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class Knockout:
    """The prediction tape with and without some heads: -log p per position, both ways."""

    heads: list[tuple[int, int]]  # (layer, head) knocked out
    inputs: list[str]
    targets: list[str]
    losses: list[float]  # -log p(target) with every head, nats
    knocked: list[float]  # the same without the knocked-out heads
    changes: list[float]  # knocked - losses: how much more surprised, per position
    mean_loss: float
    knocked_mean: float

    @property
    def mean_change(self) -> float:
        return self.knocked_mean - self.mean_loss


def knockout(
    model: MiniGPT, tokenizer: Tokenizer, text: str, heads: list[tuple[int, int]]
) -> Knockout:
    """The tape of `text` with every head, then with `heads` silenced."""
    if not heads:
        raise UserError("name at least one head to knock out, as layer.head")
    ids = tokenizer.encode(text)
    base = prediction_tape_of_ids(model, tokenizer, ids)
    with knocked_out(model, heads):
        without = prediction_tape_of_ids(model, tokenizer, ids)
    return Knockout(
        heads=list(heads),
        inputs=base.inputs,
        targets=base.targets,
        losses=base.losses,
        knocked=without.losses,
        changes=[b - a for a, b in zip(base.losses, without.losses, strict=True)],
        mean_loss=base.mean_loss,
        knocked_mean=without.mean_loss,
    )


def head_ranking(model: MiniGPT, tokenizer: Tokenizer, text: str) -> list[tuple[int, int, float]]:
    """Every head knocked out alone: (layer, head, rise of the mean loss), largest rise first."""
    ids = tokenizer.encode(text)
    base = prediction_tape_of_ids(model, tokenizer, ids).mean_loss
    rises = []
    for layer in range(len(model.blocks)):
        for head in range(model.config.num_heads):
            with knocked_out(model, [(layer, head)]):
                rise = prediction_tape_of_ids(model, tokenizer, ids).mean_loss - base
            rises.append((layer, head, rise))
    return sorted(rises, key=lambda row: -row[2])
