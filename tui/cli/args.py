"""What the `minigpt` commands share: one-line usage errors, number parsers and flag groups."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from core import WEIGHT_FORMATS, Config, SamplingConfig, preset
from tui.train_command import MODEL_FLAGS

DEVICES = ["auto", "cpu", "cuda", "mps"]
Number = TypeVar("Number", int, float)


class UsageError(Exception):
    """A one-line problem with what the user asked for (exit code 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors in one line, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# --- numbers --------------------------------------------------------------------------------


def _number(
    text: str, convert: Callable[[str], Number], minimum: Number, above: bool, requirement: str
) -> Number:
    """`text` as a finite number >= `minimum` (> it when `above`), or an argparse error."""
    try:
        value = convert(text)
    except ValueError:
        kind = "a whole number" if convert is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
    if not math.isfinite(value) or value < minimum or (above and value == minimum):
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, 1, False, "a positive integer")


def port_number(text: str) -> int:
    value = _number(text, int, 1, False, "a port from 1 to 65535")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text}")
    return value


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, False, ">= 0")


def positive_float(text: str) -> float:
    return _number(text, float, 0.0, True, "a positive number")


def terminal_size(text: str) -> tuple[int, int]:
    """`COLSxROWS`, e.g. 160x48; at least 40x12, where the studio still draws every screen."""
    columns, _, rows = text.lower().partition("x")
    if not (columns.isdigit() and rows.isdigit()) or int(columns) < 40 or int(rows) < 12:
        raise argparse.ArgumentTypeError(f"expected COLSxROWS of at least 40x12, got {text!r}")
    return int(columns), int(rows)


def non_negative_float(text: str) -> float:
    return _number(text, float, 0.0, False, "a number >= 0")


# --- model flags ----------------------------------------------------------------------------

SHAPE_FLAGS = ("block_size", "num_layers", "num_heads", "embedding_dim", "ffn_dim")


def add_shape_flags(parser: argparse.ArgumentParser) -> None:
    """Flags for the model's shape (shared by train, the training benches and bench generate)."""
    parser.add_argument("--block-size", type=positive_int)
    parser.add_argument("--num-layers", type=positive_int)
    parser.add_argument("--num-heads", type=positive_int)
    parser.add_argument("--embedding-dim", type=positive_int)
    parser.add_argument("--ffn-dim", type=positive_int)


def add_model_flags(
    parser: argparse.ArgumentParser, steps_help: str = "training steps (max_steps)"
) -> None:
    """Flags that override single fields of a preset (shared by train and bench)."""
    parser.add_argument("--preset", default="small", help="tiny, small, recipe or seed")
    parser.add_argument("--steps", type=positive_int, help=steps_help)
    parser.add_argument("--batch-size", type=positive_int, help="sequences per micro-batch")
    parser.add_argument(
        "--grad-accum",
        type=positive_int,
        metavar="K",
        help="micro-batches per optimizer step (global batch: batch size x K x processes)",
    )
    parser.add_argument(
        "--log-interval",
        type=positive_int,
        help="steps per progress update; on a GPU only these steps are read back and logged "
        "(each read waits for the GPU)",
    )
    parser.add_argument("--lr", type=positive_float, help="peak learning rate")
    add_shape_flags(parser)
    parser.add_argument("--dropout", type=non_negative_float)
    parser.add_argument("--eval-interval", type=positive_int)
    parser.add_argument("--tokenizer", choices=["char", "bpe"])
    parser.add_argument("--bpe-vocab-size", type=positive_int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--grad-clip", type=non_negative_float, help="0 disables clipping")
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile"
    )
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--threads", type=positive_int, help="torch intra-op threads")


def config_from_args(args: argparse.Namespace) -> Config:
    config = preset(args.preset)
    changes = {
        field: getattr(args, dest)
        for dest, field in MODEL_FLAGS.items()
        if getattr(args, dest, None) is not None
    }
    return replace(config, **changes)


# --- sampling flags -------------------------------------------------------------------------


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the newest)")
    parser.add_argument("--temperature", type=non_negative_float, help="0 is greedy")
    parser.add_argument("--top-k", type=positive_int)
    parser.add_argument("--top-p", type=positive_float)
    parser.add_argument("--min-p", type=non_negative_float)
    parser.add_argument("--repetition-penalty", type=positive_float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument(
        "--threads", type=positive_int, help="torch threads (1 is fastest on a busy machine)"
    )
    add_weights_flag(parser)


def add_weights_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default="auto",
        choices=["auto", *WEIGHT_FORMATS],
        help="the decode step's weight format; auto: the fastest measured here whose quality "
        "cost is within 0.01 bits per character (fp32 for small models)",
    )


def sampling_from_args(args: argparse.Namespace) -> SamplingConfig:
    changes = {
        name: getattr(args, name)
        for name in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")
        if getattr(args, name, None) is not None
    }
    if getattr(args, "max_new_tokens", None) is not None:
        changes["max_new_tokens"] = args.max_new_tokens
    return SamplingConfig(**changes)
