"""The optimizer and its schedule: AdamW (or plain SGD), warm-up and cosine decay."""

from __future__ import annotations

import math

import torch
from torch import nn

from core.config import Config


def parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The trainer's optimizer groups: matrices and embeddings (dim >= 2), which take weight
    decay, then biases and norms, which never do."""
    parameters = list(model.parameters())
    return [p for p in parameters if p.dim() >= 2], [p for p in parameters if p.dim() < 2]


def learning_rate_at(step: int, config: Config) -> float:
    """Linear warm-up to learning_rate, then cosine decay to min_lr_ratio x learning_rate."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    floor = peak * config.min_lr_ratio
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, config: Config):
    """AdamW (or plain SGD, for an experiment); weight decay on matrices and embeddings only,
    never on biases or norms."""
    decay, no_decay = parameter_groups(model)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":  # the experiment's contrast: no moments, no adaptivity
        return torch.optim.SGD(groups, lr=config.learning_rate)
    betas = (config.beta1, config.beta2)
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=betas, fused=True)
