"""Checks a manifest's optimizer settings: the trainer's two parameter groups, each with the
settings its AdamW or SGD accepts, and no number standing in for a state tensor."""

from __future__ import annotations

from pathlib import Path

from core.checkpoint.model_layout import optimizer_groups
from core.checkpoint.safe_files import invalid, is_int, is_number
from core.config import Config


def check_optimizer_settings(meta: object, config: Config, vocab_size: int, path: Path) -> None:
    """Refuse an optimizer entry (None: no optimizer was saved) the trainer could not resume."""
    if meta is None:
        return
    if not isinstance(meta, dict) or not isinstance(meta.get("param_groups"), list):
        raise invalid(path, "optimizer", "null or a map with param_groups", meta)
    expected, start = [], 0
    for shapes in optimizer_groups(config, vocab_size):
        expected.append(list(range(start, start + len(shapes))))
        start += len(shapes)
    groups = meta["param_groups"]
    if len(groups) != len(expected):
        raise invalid(path, "optimizer.param_groups", f"{len(expected)} groups", groups)
    for number, (group, params) in enumerate(zip(groups, expected, strict=True)):
        field = f"optimizer.param_groups[{number}]"
        _check_group(group, params, field, path)
        if config.optimizer == "sgd":
            _check_sgd_group(group, field, path)
        else:
            _check_adamw_group(group, field, path)
    scalars = meta.get("scalars", {})
    # both optimizers keep every state as a tensor; a number in place of one fails at a step
    if not isinstance(scalars, dict) or any(values != {} for values in scalars.values()):
        raise invalid(path, "optimizer.scalars", "a map of empty maps", scalars)


def _check_number(group: dict, key: str, field: str, path: Path, low: float, strict: bool) -> None:
    value = group.get(key)
    if not is_number(value) or value < low or (strict and value == low):
        raise invalid(path, f"{field}.{key}", f"a number {'>' if strict else '>='} {low}", value)


def _check_group(group: object, params: list[int], field: str, path: Path) -> None:
    """What AdamW and SGD groups share: the parameters, learning rate, decay and flags."""
    if not isinstance(group, dict):
        raise invalid(path, field, "a map", group)
    given = group.get("params")
    if not isinstance(given, list) or not all(is_int(i) for i in given) or given != params:
        rule = f"{params[0]} to {params[-1]}" if params else "empty"
        raise invalid(path, f"{field}.params", rule, given)
    _check_number(group, "lr", field, path, 0.0, strict=False)
    _check_number(group, "weight_decay", field, path, 0.0, strict=False)
    if not isinstance(group.get("maximize", False), bool):
        raise invalid(path, f"{field}.maximize", "true or false", group["maximize"])
    for key in ("capturable", "differentiable"):  # the trainer never sets them; both fail on CPU
        if group.get(key, False) is not False:
            raise invalid(path, f"{field}.{key}", "false", group[key])
    for key in ("foreach", "fused"):
        if group.get(key) not in (None, True, False):
            raise invalid(path, f"{field}.{key}", "true, false or null", group[key])
    if group.get("foreach") and group.get("fused"):
        raise invalid(path, f"{field}.fused", "false when foreach is true", group["fused"])
    for key, value in group.items():
        if not (value is None or isinstance(value, (bool, int, float, str, list))):
            raise invalid(path, f"{field}.{key}", "a plain value", value)


def _check_adamw_group(group: dict, field: str, path: Path) -> None:
    _check_number(group, "eps", field, path, 0.0, strict=True)
    betas = group.get("betas")
    if (
        not isinstance(betas, list)
        or len(betas) != 2
        or not all(is_number(beta) and 0 <= beta < 1 for beta in betas)
    ):
        raise invalid(path, f"{field}.betas", "two numbers in [0, 1)", betas)
    for key in ("amsgrad", "decoupled_weight_decay"):
        if not isinstance(group.get(key, False), bool):
            raise invalid(path, f"{field}.{key}", "true or false", group[key])


def _check_sgd_group(group: dict, field: str, path: Path) -> None:
    _check_number(group, "momentum", field, path, 0.0, strict=False)
    _check_number(group, "dampening", field, path, 0.0, strict=False)
    if not isinstance(group.get("nesterov", False), bool):
        raise invalid(path, f"{field}.nesterov", "true or false", group["nesterov"])
    if group.get("fused"):  # the trainer's SGD is never fused
        raise invalid(path, f"{field}.fused", "false or null", group["fused"])
