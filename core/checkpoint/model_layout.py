"""The tensors a config's MiniGPT and its optimizer hold (names, shapes, parameter groups), read
off the real model built on the meta device, where no tensor has storage."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch.overrides import TorchFunctionMode

from core.config import Config
from core.model import MiniGPT
from core.optimizer import parameter_groups

Shape = tuple[int, ...]


class ModelTooLarge(ValueError):
    """A config with a tensor of more elements than torch can count (2**63)."""


@dataclass(frozen=True)
class ModelLayout:
    """What `MiniGPT(config, vocab_size)` holds, without its values."""

    state: tuple[tuple[str, Shape], ...]  # state dict names and shapes, in its order
    groups: tuple[tuple[Shape, ...], ...]  # the optimizer's groups, parameters by index


class _SkipInit(TorchFunctionMode):
    """Skips `torch.nn.init` calls: a meta tensor has no values to set, and torch's meta
    fallback for random init costs a few milliseconds a block, and about a second the first
    time (it imports torch._dynamo)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else kwargs["tensor"]
        return func(*args, **(kwargs or {}))


@lru_cache(maxsize=8)
def model_layout(config: Config, vocab_size: int) -> ModelLayout:
    """The layout of `MiniGPT(config, vocab_size)`, built on the meta device (no memory).

    Building costs about a millisecond a block; check `parameter_count` against memory and
    cap `num_layers` first. Raises ModelTooLarge when a tensor could not even be described.
    """
    try:
        with torch.device("meta"), _SkipInit():
            model = MiniGPT(config, vocab_size)
    except (RuntimeError, TypeError) as error:
        if "overflow" not in str(error).lower():  # anything else is a bug, not the config
            raise
        raise ModelTooLarge("it has a tensor of more than 2**63 elements") from None
    state = tuple((name, tuple(tensor.shape)) for name, tensor in model.state_dict().items())
    groups = tuple(tuple(tuple(p.shape) for p in group) for group in parameter_groups(model))
    return ModelLayout(state, groups)


def parameter_shapes(config: Config, vocab_size: int) -> dict[str, Shape]:
    """MiniGPT's state dict names and shapes, in its order."""
    return dict(model_layout(config, vocab_size).state)


def parameter_count(config: Config, vocab_size: int) -> int:
    """MiniGPT's parameters for any number of layers, from models of one and two layers (so a
    config of a billion layers is counted as fast as one of two)."""

    def counted(num_layers: int) -> int:
        groups = model_layout(replace(config, num_layers=num_layers), vocab_size).groups
        return sum(math.prod(shape) for group in groups for shape in group)

    one, two = counted(1), counted(2)
    return one + (config.num_layers - 1) * (two - one)


def optimizer_groups(config: Config, vocab_size: int) -> list[list[Shape]]:
    """Parameter shapes by optimizer group, in optimizer index order across the groups."""
    return [list(group) for group in model_layout(config, vocab_size).groups]


def optimizer_states(config: Config, group: dict) -> tuple[str, ...]:
    """The tensors the trainer's optimizer keeps per parameter of `group`, once stepped."""
    if config.optimizer == "sgd":
        return ("momentum_buffer",)
    return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group.get("amsgrad") else ())
