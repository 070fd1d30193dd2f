"""X-ray computations on any text: attention stage by stage, a perturbation probe and the
prediction tape, read from the real modules through forward hooks (plain values out)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.errors import UserError
from core.model import MiniGPT, cross_entropy_for_logits
from core.tokenizer import Tokenizer
from core.xray.shapes import recording


def _ids(model: MiniGPT, tokenizer: Tokenizer, text: str) -> tuple[list[int], int]:
    """The text's token ids, the last block_size of them, and how many were cropped."""
    ids = tokenizer.encode(text)
    if not ids:
        raise UserError("give some text to look at")
    cropped = max(0, len(ids) - model.config.block_size)
    return ids[cropped:], cropped


def _tokens(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids]


def _check_layer_head(model: MiniGPT, layer: int, head: int) -> None:
    if not 0 <= layer < len(model.blocks):
        raise UserError(f"layer must be in 0..{len(model.blocks) - 1}, got {layer}")
    if not 0 <= head < model.config.num_heads:
        raise UserError(f"head must be in 0..{model.config.num_heads - 1}, got {head}")


@dataclass(frozen=True)
class AttentionStages:
    """One head's attention on a text: T x T lists per stage; -inf stays -inf."""

    tokens: list[str]
    cropped: int  # tokens cut from the front to fit block_size
    scores: list[list[float]]  # raw q . k
    scaled: list[list[float]]  # / sqrt(head_dim), unless scale was switched off
    masked: list[list[float]]  # the future at -inf (or 0 with mask_fill 0)
    weights: list[list[float]]  # softmax of masked: each row sums to 1
    spread: float  # standard deviation of the scaled scores the queries may see
    entropy: list[float]  # bits, per query row


@torch.inference_mode()
def attention_stages(
    model: MiniGPT,
    tokenizer: Tokenizer,
    text: str,
    layer: int = 0,
    head: int = 0,
    scale: bool = True,
    mask_fill: float = float("-inf"),
) -> AttentionStages:
    """Raw, scaled, masked and softmax-ed scores of one head on `text`, on the input that
    head really received (captured with a hook on the layer's attention)."""
    _check_layer_head(model, layer, head)
    if not (mask_fill == 0 or mask_fill == float("-inf")):
        raise UserError(f"mask fill must be 0 or -inf, got {mask_fill}")
    ids, cropped = _ids(model, tokenizer, text)
    attention = model.blocks[layer].attention
    device = next(model.parameters()).device
    with recording({"attention": attention}) as seen:
        model(torch.tensor([ids], device=device))  # (1, T, V)
    x = seen["attention"][0][0]  # (1, T, C): what the layer's attention was given
    readable = attention.single_heads()[head]
    mask = "causal" if mask_fill == float("-inf") else "zero"
    raw, scaled, masked, weights = (t[0] for t in readable.stages(x, scale, mask))  # (T, T)
    visible = torch.ones_like(raw, dtype=torch.bool).tril()  # (T, T)
    entropy = (torch.special.entr(weights).sum(-1) / math.log(2)).tolist()  # (T,)
    return AttentionStages(
        tokens=_tokens(tokenizer, ids),
        cropped=cropped,
        scores=raw.tolist(),
        scaled=scaled.tolist(),
        masked=masked.tolist(),
        weights=weights.tolist(),
        spread=float(scaled[visible].std()) if visible.sum() > 1 else 0.0,
        entropy=entropy,
    )


@dataclass(frozen=True)
class Probe:
    """How far each position moved when one input token changed."""

    tokens: list[str]
    position: int
    replacement: str
    max_change: list[float]  # whole model: max |logit change| per position
    attention_change: list[float]  # the first block's attention output
    ffn_change: list[float]  # the first block's feed-forward alone, on the embeddings


@torch.inference_mode()
def perturbation_probe(
    model: MiniGPT, tokenizer: Tokenizer, text: str, position: int, replacement: int | None = None
) -> Probe:
    """Change the token at `position` and measure, per position, the change of the first
    attention output, of the first feed-forward network applied alone, and of the logits.

    Causality shows as exact zeros left of `position`; the feed-forward network, a function
    of one position at a time, changes only at `position`."""
    ids, _ = _ids(model, tokenizer, text)
    if not 0 <= position < len(ids):
        raise UserError(f"position must be in 0..{len(ids) - 1}, got {position}")
    if replacement is None:  # the next token id, so the input surely differs
        replacement = (ids[position] + 1) % model.vocab_size
    changed = list(ids)
    changed[position] = replacement
    block = model.blocks[0]
    watched = {"embeddings": model.embeddings, "attention": block.attention}
    device = next(model.parameters()).device
    runs = []
    for sequence in (ids, changed):
        with recording(watched) as seen:
            logits = model(torch.tensor([sequence], device=device))  # (1, T, V)
        embedded = seen["embeddings"][1]  # (1, T, C)
        ffn_alone = block.ffn(embedded) if block.ffn is not None else embedded  # (1, T, C)
        runs.append((logits[0], seen["attention"][1][0], ffn_alone[0]))

    def change(a: torch.Tensor, b: torch.Tensor) -> list[float]:
        return (a - b).abs().amax(-1).tolist()  # (T,)

    (logits, attended, ffn), (logits2, attended2, ffn2) = runs
    return Probe(
        tokens=_tokens(tokenizer, ids),
        position=position,
        replacement=_tokens(tokenizer, [replacement])[0],
        max_change=change(logits, logits2),
        attention_change=change(attended, attended2),
        ffn_change=change(ffn, ffn2),
    )


@dataclass(frozen=True)
class Tape:
    """Next-token predictions along a text: what the model saw, what came, what it thought."""

    inputs: list[str]  # tokens 0 .. T-2
    targets: list[str]  # tokens 1 .. T-1: the input shifted by one
    target_probs: list[float]  # p(target) at each position
    guesses: list[str]  # the most likely token at each position
    losses: list[float]  # -log p(target), nats
    mean_loss: float  # their mean: cross_entropy_for_logits on the same chunk


def prediction_tape(model: MiniGPT, tokenizer: Tokenizer, text: str) -> Tape:
    """Every position's prediction of the next token of `text` (cut to block_size + 1)."""
    return prediction_tape_of_ids(model, tokenizer, tokenizer.encode(text))


@torch.inference_mode()
def prediction_tape_of_ids(model: MiniGPT, tokenizer: Tokenizer, ids: list[int]) -> Tape:
    """The tape of token ids as they are (a chunk of a split: no decoding and re-encoding),
    the last block_size + 1 of them."""
    ids = ids[-(model.config.block_size + 1) :]
    if len(ids) < 2:
        raise UserError("the tape needs at least two tokens of text")
    device = next(model.parameters()).device
    chunk = torch.tensor([ids], device=device)  # (1, T + 1)
    idx, targets = chunk[:, :-1], chunk[:, 1:]  # (1, T), (1, T)
    logits = model(idx).float()  # (1, T, V)
    log_probs = torch.log_softmax(logits[0], dim=-1)  # (T, V)
    chosen = log_probs.gather(1, targets[0, :, None])[:, 0]  # (T,)
    return Tape(
        inputs=_tokens(tokenizer, ids[:-1]),
        targets=_tokens(tokenizer, ids[1:]),
        target_probs=chosen.exp().tolist(),
        guesses=_tokens(tokenizer, log_probs.argmax(-1).tolist()),
        losses=(-chosen).tolist(),
        mean_loss=float(cross_entropy_for_logits(logits, targets)),
    )
