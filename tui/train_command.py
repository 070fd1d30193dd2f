"""The `minigpt train` flags that set a Config's fields, and the command line that trains a config
again: the CLI parses these flags, and the studio records such a line in a run's command.txt."""

from __future__ import annotations

import shlex
from dataclasses import fields

from core import PRESETS, Config

MODEL_FLAGS = {
    # flag dest -> Config field
    "steps": "max_steps",
    "batch_size": "batch_size",
    "grad_accum": "grad_accum",
    "log_interval": "log_interval",
    "lr": "learning_rate",
    "block_size": "block_size",
    "num_layers": "num_layers",
    "num_heads": "num_heads",
    "embedding_dim": "embedding_dim",
    "ffn_dim": "ffn_dim",
    "dropout": "dropout",
    "eval_interval": "eval_interval",
    "tokenizer": "tokenizer",
    "bpe_vocab_size": "bpe_vocab_size",
    "seed": "seed",
    "grad_clip": "grad_clip",
    "warmup_steps": "warmup_steps",
    "precision": "precision",
    "compile": "compile",
    "keep_best": "keep_best",  # train's own flags: absent from the benches' parsers
    "early_stop": "early_stop",
    "optimizer": "optimizer",
}
FIELD_FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in MODEL_FLAGS.items()}


def _value(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)  # repr: read back exactly


def _machine(device: str, threads: int | None, log_to: tuple[str, ...] = ()) -> list[str]:
    """The flags that run a command on this machine, logging where the run logs."""
    trackers = [flag for name in log_to for flag in ("--log-to", name)]
    return ["--device", device, *(["--threads", str(threads)] if threads else []), *trackers]


def train_command(
    config: Config,
    preset: str,
    corpus: str | None,
    out: str,
    device: str = "cpu",
    threads: int | None = None,
    log_to: tuple[str, ...] = (),
) -> str:
    """`minigpt train --preset P [a flag per field that differs from P] --data CORPUS --device D
    [--threads N] [--log-to T] --out OUT`, the line that trains `config` again (the threads
    too: they change a float sum's order). A field no flag sets is named in a comment after it,
    as is a corpus that came from no file."""
    argv = ["minigpt", "train", "--preset", preset]
    unset = []
    for item in fields(Config):
        value = getattr(config, item.name)
        if value == getattr(PRESETS[preset], item.name):
            continue
        flag = FIELD_FLAGS.get(item.name)
        if flag is None or value is None:
            unset.append(f"{item.name}={_value(value)}")
        elif isinstance(value, bool):
            argv.append(flag if value else f"--no-{flag[2:]}")
        else:
            argv += [flag, _value(value)]
    if corpus is not None:
        argv += ["--data", corpus]
    argv += [*_machine(device, threads, log_to), "--out", out]
    notes = [] if corpus is not None else ["the corpus was given as text: add --data FILE"]
    if unset:
        notes.append(f"no flag sets {', '.join(unset)}")
    return shlex.join(argv) + (f"  # {'; '.join(notes)}" if notes else "")


def resume_command(
    out: str,
    corpus: str | None,
    device: str = "cpu",
    threads: int | None = None,
    log_to: tuple[str, ...] = (),
) -> str:
    """`minigpt train --resume OUT --data CORPUS --device D [--threads N] [--log-to T]`: a run
    continued."""
    argv = ["minigpt", "train", "--resume", out]
    if corpus is not None:
        argv += ["--data", corpus]
    line = shlex.join([*argv, *_machine(device, threads, log_to)])
    return line if corpus is not None else line + "  # the corpus was given as text"
