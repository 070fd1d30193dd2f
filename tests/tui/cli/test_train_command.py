"""The `minigpt train` line the studio records in command.txt, parsed back by the real CLI
parser into the same Config."""

from __future__ import annotations

import shlex
from dataclasses import replace

import pytest

from core import PRESETS, Config
from tui.cli.args import config_from_args
from tui.cli.parsers import build_parser
from tui.train_command import FIELD_FLAGS, resume_command, train_command


def _parsed(line: str) -> Config:
    """A recorded `minigpt train ...` line (its comment dropped) through the real parser."""
    argv = shlex.split(line, comments=True)
    assert argv[:2] == ["minigpt", "train"]
    return config_from_args(build_parser().parse_args(argv[1:]))


# a value for every field a flag sets, none of them a preset's
EVERY_FLAG = {
    "max_steps": 123,
    "batch_size": 3,
    "grad_accum": 2,
    "log_interval": 5,
    "learning_rate": 1.2345678901234567e-4,  # every digit survives
    "block_size": 12,
    "num_layers": 3,
    "num_heads": 5,
    "embedding_dim": 20,
    "ffn_dim": 40,
    "dropout": 0.1,
    "eval_interval": 9,
    "tokenizer": "bpe",
    "bpe_vocab_size": 300,
    "seed": 7,
    "grad_clip": 0.0,
    "warmup_steps": 11,
    "precision": "fp32",
    "early_stop": 3,
    "optimizer": "sgd",
}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_recorded_train_line_parses_back_into_the_same_config(preset):
    compile_flag = {name: not getattr(PRESETS[preset], name) for name in ("compile", "keep_best")}
    assert set(EVERY_FLAG) | set(compile_flag) == set(FIELD_FLAGS)  # a new flag is tried too
    config = replace(PRESETS[preset], **EVERY_FLAG, **compile_flag)
    line = train_command(config, preset, "my corpus.txt", "checkpoints/run 1", "cuda", 3)
    assert "#" not in line  # every setting has its flag
    assert _parsed(line) == config
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert (args.data, args.out) == ("my corpus.txt", "checkpoints/run 1")
    assert (args.device, args.threads) == ("cuda", 3)


def test_the_train_line_names_the_preset_and_only_the_changed_flags():
    line = train_command(replace(PRESETS["tiny"], seed=5), "tiny", "c.txt", "out")
    assert line == "minigpt train --preset tiny --seed 5 --data c.txt --device cpu --out out"


def test_a_setting_no_flag_sets_is_named_in_a_comment():
    line = train_command(replace(PRESETS["tiny"], weight_decay=0.5), "tiny", "c.txt", "out")
    assert line.endswith("  # no flag sets weight_decay=0.5")
    assert "weight_decay" not in FIELD_FLAGS


def test_the_resume_line_parses_as_a_resume_of_the_folder():
    args = build_parser().parse_args(shlex.split(resume_command("checkpoints/r", "c.txt"))[1:])
    assert (args.resume, args.data, args.device) == ("checkpoints/r", "c.txt", "cpu")
