"""What the training loop measures at an evaluation: the validation loss over fixed batches and
a short sample. Neither touches the training model's random streams. Both are methods of
`TrainingSession`, kept here so the loop's own file holds the loop."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Protocol

import torch

from core.checkpoint.best import BestEvaluation
from core.child.distributed import RankInfo
from core.config import Config, SamplingConfig
from core.dataset import TokenDataset
from core.errors import UserError
from core.events import StepMetrics
from core.model import MiniGPT, cross_entropy_for_logits
from core.session import generate_text
from core.tokenizer import Tokenizer
from core.xray.training import XrayCapture


class TrainingRun(Protocol):
    """What an evaluation reads of the run it measures (a TrainingSession)."""

    config: Config
    ranks: RankInfo
    model: MiniGPT
    forward_model: torch.nn.Module
    val_data: TokenDataset
    device: torch.device
    tokenizer: Tokenizer

    step: int
    xray: XrayCapture
    best: BestEvaluation

    @property
    def stop_asked(self) -> bool: ...

    def _autocast(self) -> AbstractContextManager: ...

    def _diverged(self, what: str) -> UserError: ...


def evaluated(run: TrainingRun, metrics: StepMetrics) -> StepMetrics:
    """An evaluating step's metrics with its validation loss, sample and X-ray, the run's best
    updated; as they were if a stop came during the evaluation (it was left)."""
    val_loss = evaluate(run, stoppable=True)
    if val_loss is None:
        return metrics
    if not math.isfinite(val_loss):
        raise run._diverged(f"the validation loss became {val_loss}")
    run.best.update(run.step, val_loss)
    sample, xray = sample_text(run), run.xray.result()
    return replace(metrics, val_loss=val_loss, sample=sample, xray=xray)


SAMPLE_PROMPT = ""  # empty: a newline, or token 0 for a corpus without one
SAMPLE_TOKENS = 120


@torch.no_grad()
def evaluate(
    run: TrainingRun,
    batches: int | None = None,
    model: torch.nn.Module | None = None,
    stoppable: bool = False,
) -> float | None:
    """Mean validation loss over fixed batches (the same every time; eval_batches of them
    unless `batches` is given), of the training model or of `model` (e.g. the same
    weights under another design switch). `stoppable`: None if a stop is asked before the
    last batch (a deep model's evaluation would hold the stop for minutes)."""
    config = run.config
    generator = torch.Generator().manual_seed(config.seed + 2)
    # rank 0 evaluates alone: through the bare model, which no other rank waits on
    forward = run.model if run.ranks.distributed else run.forward_model
    forward = model if model is not None else forward
    run.model.eval()
    forward.eval()
    losses = []
    for _ in range(batches or config.eval_batches):
        if stoppable and run.stop_asked:
            run.model.train()
            return None
        idx, targets = run.val_data.batch(config.batch_size, generator, run.device)
        with run._autocast():
            logits = forward(idx)  # (B, T, V)
        losses.append(cross_entropy_for_logits(logits, targets).item())
    run.model.train()
    return sum(losses) / len(losses)


def sample_text(
    run: TrainingRun, prompt: str = SAMPLE_PROMPT, max_new_tokens: int = SAMPLE_TOKENS
) -> str:
    """A short sample from a fixed prompt and seed, without touching the training RNG."""
    run.model.eval()
    try:
        sampling = SamplingConfig(temperature=0.8, top_k=None, max_new_tokens=max_new_tokens)
        model, tokenizer, stop = run.model, run.tokenizer, lambda: run.stop_asked
        return generate_text(model, tokenizer, prompt, sampling, seed=0, stop=stop)
    finally:
        run.model.train()
