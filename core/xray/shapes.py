"""What the studio's views compute about a model, as plain values, through forward hooks.

Every view runs the real modules (`MiniGPT.forward`) and reads what flows through them with
forward hooks; nothing here copies the forward pass, so a view can never disagree with the
model it describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import UserError
from core.model import MiniGPT


@dataclass(frozen=True)
class ShapeStage:
    """One stage of a forward pass and the real shape it produced."""

    stage: str
    shape: tuple[int, ...]
    letters: str  # the same shape in the letters of the shape comments, e.g. "B, T, C"
    note: str


@contextmanager
def recording(modules: dict[str, nn.Module]) -> Iterator[dict[str, tuple]]:
    """While open, each named module's (inputs, output) of its last call lands in the dict."""
    seen: dict[str, tuple] = {}
    handles = [
        module.register_forward_hook(
            lambda _module, inputs, output, name=name: seen.__setitem__(name, (inputs, output))
        )
        for name, module in modules.items()
    ]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def shape_journey(model: MiniGPT, batch_size: int | None = None) -> tuple[ShapeStage, ...]:
    """Run the model on a (B, block_size) batch and record each stage's real shape."""
    config = model.config
    batch_size = batch_size or config.batch_size
    vocab_size = model.vocab_size
    first = model.blocks[0]
    generator = torch.Generator().manual_seed(0)
    idx = torch.randint(vocab_size, (batch_size, config.block_size), generator=generator)
    idx = idx.to(next(model.parameters()).device)  # (B, T)
    watched = {
        "embeddings": model.embeddings,
        "attention": first.attention,
        "ffn": first.ffn,
        "expand": first.ffn.up,
        "blocks": model.blocks[-1],
    }
    with torch.inference_mode(), recording(watched) as seen:
        logits = model(idx)  # (B, T, V)
        # one head of the first block, as the readable module, on what attention was given
        head = first.attention.single_heads()[0]
        one_head = head(seen["attention"][0][0])  # (B, T, D)
        probs = torch.softmax(logits[:, -1], dim=-1)  # (B, V)
    heads, head_dim, width = config.num_heads, config.head_dim, config.embedding_dim

    def shape(name: str) -> tuple[int, ...]:
        return tuple(seen[name][1].shape)

    return (
        ShapeStage("input ids", tuple(idx.shape), "B, T", "token ids, one row per sequence"),
        ShapeStage(
            "Embeddings",
            shape("embeddings"),
            "B, T, C",
            f"token table [{vocab_size}, {width}] + position table "
            f"[{config.block_size}, {width}], added",
        ),
        ShapeStage(
            "SingleHeadAttention",
            tuple(one_head.shape),
            "B, T, D",
            f"one head: D = C / H = {width} / {heads} = {head_dim}",
        ),
        ShapeStage(
            "MultiHeadAttention",
            shape("attention"),
            "B, T, C",
            f"{heads} heads of {head_dim} concatenated, then projected [C, C]",
        ),
        ShapeStage(
            "FeedForward",
            shape("ffn"),
            "B, T, C",
            f"expand to {shape('expand')[-1]}, GELU, project back to {width}",
        ),
        ShapeStage(
            f"Transformer x {config.num_layers}",
            shape("blocks"),
            "B, T, C",
            "pre-norm blocks: x + attention(ln(x)), then x + ffn(ln(x))",
        ),
        ShapeStage(
            "MiniGPT (logits)",
            tuple(logits.shape),
            "B, T, V",
            f"final LayerNorm, then the head [C, V={vocab_size}]",
        ),
        ShapeStage(
            "softmax (last position)",
            tuple(probs.shape),
            "B, V",
            "next-token probabilities; generation uses only the last position",
        ),
    )


PARTS = (
    "token embedding",
    "position embedding",
    "attention (all blocks)",
    "feed-forward (all blocks)",
    "layer norms",
    "output head",
    "other",
)


def _part_of(name: str) -> str:
    if name.startswith("embeddings.token"):
        return "token embedding"
    if name.startswith("embeddings.position"):
        return "position embedding"
    if ".attention." in name:
        return "attention (all blocks)"
    if ".ffn." in name:
        return "feed-forward (all blocks)"
    if ".ln" in name or name.startswith("ln_final"):
        return "layer norms"
    if name.startswith("head"):
        return "output head"
    return "other"


def parameter_counts(model: MiniGPT) -> tuple[tuple[str, int], ...]:
    """Parameters per part of the model, in forward order; the last row is the total."""
    parts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        key = _part_of(name)
        parts[key] = parts.get(key, 0) + parameter.numel()
    rows = tuple((key, parts[key]) for key in PARTS if key in parts)
    return (*rows, ("total", model.num_parameters()))


def attention_maps(model: MiniGPT, ids: list[int], layer: int = 0) -> tuple:
    """Every head's attention weights at `layer` for the token ids (the last block_size).

    Returns maps[head][query][key] as floats: each row sums to 1 over the keys up to its query.
    """
    if not 0 <= layer < len(model.blocks):
        raise UserError(f"layer must be in 0..{len(model.blocks) - 1}, got {layer}")
    ids = ids[-model.config.block_size :]
    if not ids:
        raise UserError("give some text to look at")
    attention = model.blocks[layer].attention
    device = next(model.parameters()).device
    with torch.inference_mode(), recording({"attention": attention}) as seen:
        model(torch.tensor([ids], device=device))  # (1, T, V)
        # the readable per-head twin of the fused attention, on the input it really had
        _, maps = attention.per_head(seen["attention"][0][0])  # (1, T, C), (1, H, T, T)
    return tuple(tuple(tuple(row) for row in head) for head in maps[0].tolist())
