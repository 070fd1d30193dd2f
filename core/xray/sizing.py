"""The sizing lens: what a model shape costs in parameters, memory, FLOPs and time, and how
much text a block holds under each tokenizer."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from core.config import Config
from core.model import MiniGPT, cross_entropy_for_logits
from core.optimizer import make_optimizer
from core.tokenizer import Tokenizer
from core.xray.shapes import ShapeStage, parameter_counts, shape_journey

MB = 2**20
MEASURE_LIMIT = 50_000_000  # parameters; larger shapes are sized without timing a step


@dataclass(frozen=True)
class Sizing:
    """One shape's costs; memory in MiB, measured from the real tensors."""

    parts: tuple[tuple[str, int], ...]  # parameters per part, in forward order, total last
    weights_mb: float
    gradients_mb: float
    optimizer_mb: float  # AdamW's two moments (nothing for plain SGD)
    activations_mb: float | None  # what autograd saves for one batch's backward pass
    kv_cache_bytes_per_token: int  # keys and values of every layer, fp32
    flops_per_token: int  # training: forward + backward
    ms_per_step: float | None  # median of a few untrained steps on this machine
    journey: tuple[ShapeStage, ...]  # the shape journey of one batch, on the meta device


def size_model(config: Config, vocab_size: int, measure_steps: int = 3) -> Sizing:
    """Build the shape and measure it: a few untrained steps unless it is very large."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with torch.device("meta"):
            shape_only = MiniGPT(config, vocab_size)
        parameters = shape_only.num_parameters()
        activations = ms = None
        if parameters <= MEASURE_LIMIT and measure_steps > 0:
            activations, ms = _measure(config, vocab_size, measure_steps)
    weights = parameters * 4 / MB
    return Sizing(
        parts=parameter_counts(shape_only),
        weights_mb=weights,
        gradients_mb=weights,
        optimizer_mb=0.0 if config.optimizer == "sgd" else 2 * weights,
        activations_mb=activations,
        kv_cache_bytes_per_token=2 * config.num_layers * config.embedding_dim * 4,
        flops_per_token=shape_only.flops_per_token(),
        ms_per_step=ms,
        # shapes only: the meta device runs the real forward without computing a number
        journey=shape_journey(shape_only) if config.feed_forward else (),
    )


def _measure(config: Config, vocab_size: int, steps: int) -> tuple[float, float]:
    model = MiniGPT(config, vocab_size)
    optimizer = make_optimizer(model, config)
    idx = torch.randint(vocab_size, (config.batch_size, config.block_size))  # (B, T)
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    times = []
    for step in range(steps + 1):
        started = time.perf_counter()
        if step == 0:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                loss = cross_entropy_for_logits(model(idx), idx)
        else:
            loss = cross_entropy_for_logits(model(idx), idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step:  # the first step pays one-off set-up (and the counting hooks)
            times.append((time.perf_counter() - started) * 1000)
    return saved / MB, statistics.median(times)


@dataclass(frozen=True)
class TokenView:
    """A text under one tokenizer."""

    kind: str
    tokens: list[str]  # each token as text, partial UTF-8 escaped; an unknown character as is
    characters_per_token: float
    block_characters: float  # how much text one block of block_size tokens holds
    token_bytes: list[str]  # each token's UTF-8 bytes in hex, e.g. "c3 a9" for é
    unknown: list[int]  # indices of tokens outside the vocabulary (characters it lacks)
    verdict: str  # what the model does with this text: reads it, or refuses it and why


def _char_view(text: str, tokenizer: Tokenizer, block_size: int) -> TokenView:
    """One token per character, those the vocabulary lacks marked rather than raised."""
    tokens, unknown = list(text), []
    for index, character in enumerate(tokens):
        try:
            tokenizer.encode(character)
        except ValueError:
            unknown.append(index)
    per_token = 1.0
    if unknown:
        missing = sorted({text[i] for i in unknown})
        verdict = (
            f"{len(unknown)} of {len(text)} characters are not in the vocabulary of "
            f"{tokenizer.vocab_size} ({', '.join(repr(c) for c in missing[:6])}): the model has "
            "no row for them, so Generate and Chat refuse this text rather than guess a mapping"
        )
    else:
        verdict = f"every character is one of the {tokenizer.vocab_size} in the vocabulary"
    return TokenView(
        "char",
        tokens,
        per_token,
        per_token * block_size,
        [c.encode("utf-8").hex(" ") for c in tokens],
        unknown,
        verdict,
    )


def token_lens(text: str, tokenizers: dict[str, Tokenizer], block_size: int) -> list[TokenView]:
    """The same text cut into tokens by each tokenizer, with how much text a block holds. Any
    text: a character tokenizer marks what it cannot spell, byte-level BPE splits a character
    it never merged into its UTF-8 bytes."""
    views = []
    for kind, tokenizer in tokenizers.items():
        if tokenizer.kind == "char":
            views.append(_char_view(text, tokenizer, block_size))
            continue
        ids = tokenizer.encode(text)
        raw = [tokenizer.token_bytes(i) for i in ids]
        tokens = [b.decode("utf-8", errors="backslashreplace") for b in raw]
        per_token = len(text) / max(1, len(ids))
        split = sum(1 for b in raw if not _whole_characters(b))
        verdict = (
            f"{split} tokens are parts of a character's UTF-8 bytes (shown escaped): BPE never "
            "meets an unknown character, it falls back to bytes"
            if split
            else "every token is whole characters; nothing is unknown to byte-level BPE"
        )
        views.append(
            TokenView(
                kind,
                tokens,
                per_token,
                per_token * block_size,
                [b.hex(" ") for b in raw],
                [],
                verdict,
            )
        )
    return views


def _whole_characters(raw: bytes) -> bool:
    """Whether a token's bytes are whole UTF-8 characters (not part of one)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
