"""What the training loop measures at an evaluation: the validation loss over fixed batches and
a short sample. Neither touches the training model's random streams. Both are methods of
`TrainingSession`, kept here so the loop's own file holds the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from core.config import SamplingConfig
from core.model import cross_entropy_for_logits
from core.session import generate_text

if TYPE_CHECKING:
    from core.trainer import TrainingSession

SAMPLE_PROMPT = ""  # empty: a newline, or token 0 for a corpus without one
SAMPLE_TOKENS = 120


@torch.no_grad()
def evaluate(
    session: TrainingSession,
    batches: int | None = None,
    model: torch.nn.Module | None = None,
    stoppable: bool = False,
) -> float | None:
    """Mean validation loss over fixed batches (the same every time; eval_batches of them
    unless `batches` is given), of the training model or of `model` (e.g. the same
    weights under another design switch). `stoppable`: None if a stop is asked before the
    last batch (a deep model's evaluation would hold the stop for minutes)."""
    config = session.config
    generator = torch.Generator().manual_seed(config.seed + 2)
    # rank 0 evaluates alone: through the bare model, which no other rank waits on
    forward = session.model if session.ranks.distributed else session.forward_model
    forward = model if model is not None else forward
    session.model.eval()
    forward.eval()
    losses = []
    for _ in range(batches or config.eval_batches):
        if stoppable and session.stop_asked:
            session.model.train()
            return None
        idx, targets = session.val_data.batch(config.batch_size, generator, session.device)
        with session._autocast():
            logits = forward(idx)  # (B, T, V)
        losses.append(cross_entropy_for_logits(logits, targets).item())
    session.model.train()
    return sum(losses) / len(losses)


def sample_text(
    session: TrainingSession, prompt: str = SAMPLE_PROMPT, max_new_tokens: int = SAMPLE_TOKENS
) -> str:
    """A short sample from a fixed prompt and seed, without touching the training RNG."""
    session.model.eval()
    try:
        sampling = SamplingConfig(temperature=0.8, top_k=None, max_new_tokens=max_new_tokens)
        model, tokenizer, stop = session.model, session.tokenizer, lambda: session.stop_asked
        return generate_text(model, tokenizer, prompt, sampling, seed=0, stop=stop)
    finally:
        session.model.train()
