"""The logit lens and the embedding lens, through forward hooks: the residual stream decoded
after the embeddings and after every block, what each sublayer added to it, and the geometry of
the token and position tables."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.errors import UserError
from core.model import MiniGPT
from core.tokenizer import Tokenizer
from core.xray.shapes import recording
from core.xray.views import _tokens


def fresh_model(model: MiniGPT) -> MiniGPT:
    """`model` as training began it: the same config and vocabulary, its weights drawn from
    `config.seed` exactly as `TrainingSession` draws them, the caller's random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model.config.seed)
        fresh = MiniGPT(model.config, model.vocab_size)
    return fresh.to(next(model.parameters()).device).eval()


@dataclass(frozen=True)
class LensLayer:
    """The stream at one depth, read by the final LayerNorm and the head as if it were the last."""

    name: str  # "embeddings", "block 1", ...
    guesses: list[str]  # the top guess at each position
    target_probs: list[float]  # p(target) at each position
    mean_loss: float  # mean -log p(target): the loss the model would have if it stopped here


@dataclass(frozen=True)
class BlockAdded:
    """What one block's sublayers added to the stream, as mean L2 norms over the positions."""

    block: int
    stream: float  # the stream the block was given
    attention: float  # the attention sublayer's output, added to the stream
    ffn: float | None  # the feed-forward sublayer's output (None without one)


@dataclass(frozen=True)
class LogitLens:
    inputs: list[str]
    targets: list[str]
    layers: list[LensLayer]  # embeddings first; the last one is the model's own output
    added: list[BlockAdded]
    residual: bool  # the blocks add to the stream (False: the no-residual variant replaces it)


@torch.inference_mode()
def logit_lens(model: MiniGPT, tokenizer: Tokenizer, text: str) -> LogitLens:
    """Decode the residual stream of `text` (the last block_size + 1 tokens) at every depth."""
    ids = tokenizer.encode(text)[-(model.config.block_size + 1) :]
    if len(ids) < 2:
        raise UserError("the lens needs at least two tokens of text")
    device = next(model.parameters()).device
    chunk = torch.tensor([ids], device=device)  # (1, T + 1)
    idx, targets = chunk[:, :-1], chunk[0, 1:]  # (1, T), (T,)
    watched: dict[str, torch.nn.Module] = {"embeddings": model.embeddings}
    for index, block in enumerate(model.blocks):
        watched[f"block {index + 1}"] = block
        watched[f"attention {index + 1}"] = block.attention
        if block.ffn is not None:
            watched[f"ffn {index + 1}"] = block.ffn
    with recording(watched) as seen:
        model(idx)  # (1, T, V)
    names = ["embeddings", *(f"block {i + 1}" for i in range(len(model.blocks)))]
    layers = []
    for name in names:
        stream = seen[name][1][0]  # (T, C)
        # the model's own reading of its stream: final LayerNorm, then the head
        log_probs = torch.log_softmax(model.head(model.ln_final(stream)).float(), -1)  # (T, V)
        chosen = log_probs.gather(1, targets[:, None])[:, 0]  # (T,)
        layers.append(
            LensLayer(
                name=name,
                guesses=_tokens(tokenizer, log_probs.argmax(-1).tolist()),
                target_probs=chosen.exp().tolist(),
                mean_loss=float(-chosen.mean()),
            )
        )

    def norm(name: str, which: int) -> float:
        tensor = seen[name][which]
        tensor = tensor[0] if isinstance(tensor, tuple) else tensor  # inputs come as a tuple
        return float(tensor[0].float().norm(dim=-1).mean())

    added = [
        BlockAdded(
            block=i + 1,
            stream=norm(f"block {i + 1}", 0),
            attention=norm(f"attention {i + 1}", 1),
            ffn=norm(f"ffn {i + 1}", 1) if f"ffn {i + 1}" in seen else None,
        )
        for i in range(len(model.blocks))
    ]
    return LogitLens(
        inputs=_tokens(tokenizer, ids[:-1]),
        targets=_tokens(tokenizer, ids[1:]),
        layers=layers,
        added=added,
        residual=model.config.residual,
    )


@dataclass(frozen=True)
class EmbeddingLens:
    """The position table's cosine similarities and one token's neighbours in the token table."""

    positions: list[list[float]]  # cosine of position i's row with position j's (P, P); [] if none
    token: str
    neighbours: list[tuple[str, float]]  # the most similar other tokens, by cosine, best first
    farthest: list[tuple[str, float]]  # the least similar, lowest cosine first


@torch.inference_mode()
def embedding_lens(
    model: MiniGPT, tokenizer: Tokenizer, token: str, count: int = 8, positions: int = 32
) -> EmbeddingLens:
    """Cosine similarities of the first `positions` rows of the position table, and the
    `count` nearest and farthest tokens to `token` (its first token, if it spells several)."""
    ids = tokenizer.encode(token)
    if not ids:
        raise UserError("give a token to look up")
    table = model.embeddings.token.weight.float()  # (V, C)
    unit = F.normalize(table, dim=-1)  # (V, C)
    similar = unit @ unit[ids[0]]  # (V,)
    similar[ids[0]] = float("nan")  # not its own neighbour
    others = similar.nan_to_num(-2.0)
    count = min(count, len(table) - 1)
    nearest = others.topk(count)
    farthest = similar.nan_to_num(2.0).topk(count, largest=False)
    names = _tokens(tokenizer, list(range(len(table))))
    position = model.embeddings.position
    rows: list[list[float]] = []
    if position is not None:
        unit_positions = F.normalize(position.weight[:positions].float(), dim=-1)  # (P, C)
        rows = (unit_positions @ unit_positions.T).tolist()  # (P, P)
    return EmbeddingLens(
        positions=rows,
        token=names[ids[0]],
        neighbours=[
            (names[i], v)
            for i, v in zip(nearest.indices.tolist(), nearest.values.tolist(), strict=True)
        ],
        farthest=[
            (names[i], v)
            for i, v in zip(farthest.indices.tolist(), farthest.values.tolist(), strict=True)
        ],
    )
