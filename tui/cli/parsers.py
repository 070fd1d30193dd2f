"""The `minigpt` command line: every subcommand's flags. Light on purpose: each command's
module (and torch with it) is imported only when that command runs, so `--help` is instant."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from core import DEFAULT_SEEDS, DEFAULT_VARIANTS, PRESETS, RACE_THREADS, SCENARIOS
from tui.cli.args import (
    OneLineParser,
    add_model_flags,
    add_sampling_flags,
    add_shape_flags,
    add_weights_flag,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
    terminal_size,
)
from tui.cli.bench import add_bench_parser


def _run(target: str) -> Callable[[argparse.Namespace], int]:
    """The command `module:function`, imported when it runs."""
    module_name, function = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module_name), function)(args)

    return run


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="minigpt", description="Build, train and watch a GPT.")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)

    train = sub.add_parser("train", help="train a model (default preset: small)")
    add_model_flags(train)
    train.add_argument("--data", help="UTF-8 text file (default: the shipped Shakespeare)")
    train.add_argument("--out", help="checkpoint folder (default: checkpoints/PRESET-TIME)")
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="DIR",
        help="continue a run (DIR, else --out, else the newest checkpoint)",
    )
    train.add_argument(
        "--allow-other-data",
        action="store_true",
        help="with --resume: continue on a corpus other than the checkpoint's",
    )
    train.add_argument(
        "--recalibrate-precision",
        action="store_true",
        help="measure again whether bf16 beats fp32 at this shape (--precision auto)",
    )
    train.add_argument(
        "--weights-only",
        action="store_true",
        help="save weights and tokenizer only (a third of the size; cannot be resumed)",
    )
    train.add_argument(
        "--nproc",
        type=positive_int,
        metavar="N",
        help="train on N processes of this machine (data-parallel, under torchrun)",
    )
    train.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also keep the checkpoint of the lowest validation loss, in OUT/best",
    )
    train.add_argument(
        "--early-stop",
        type=non_negative_int,
        metavar="N",
        help="stop after N evaluations without a new best validation loss (0: never)",
    )
    train.add_argument(
        "--optimizer",
        choices=["adamw", "sgd"],
        help="adamw (default), or plain SGD on the same schedule",
    )
    train.add_argument(
        "--log-to",
        action="append",
        choices=["tensorboard", "wandb"],
        help="also send each step's metrics and the config there (repeatable; needs "
        "pip install 'minigpt-studio[tracking]')",
    )
    train.set_defaults(func=_run("tui.cli.train:cmd_train"))

    sample = sub.add_parser("sample", help="generate text from a checkpoint")
    add_sampling_flags(sample)
    sample.add_argument("--prompt", default="", help="start text (empty: a newline)")
    sample.add_argument("--max-new-tokens", type=positive_int, default=200)
    sample.add_argument("--no-cache", action="store_true", help="recompute without the KV cache")
    sample.add_argument("--show-probs", action="store_true", help="top candidates to stderr")
    sample.set_defaults(func=_run("tui.cli.generate:cmd_sample"))

    chat = sub.add_parser("chat", help="a terminal chat over a checkpoint")
    add_sampling_flags(chat)
    chat.add_argument("--max-new-tokens", type=positive_int, default=300)
    chat.set_defaults(func=_run("tui.cli.generate:cmd_chat"))

    studio = sub.add_parser("studio", help="open the studio (the default)")
    studio.add_argument("--checkpoint", help="checkpoint folder for Generate and Chat")
    studio.add_argument("--data", help="UTF-8 text file to train on")
    studio.add_argument("--preset", default="small", help="the training form's preset")
    studio.add_argument(
        "--threads", type=positive_int, help="torch threads for training (default: every core)"
    )
    add_weights_flag(studio)
    studio.add_argument(
        "--watch",
        metavar="DIR",
        help="follow the run training into DIR (its metrics.jsonl), read-only",
    )
    studio.add_argument(
        "--screenshot",
        metavar="FILE",
        help="draw the Generate screen after a few tokens into an SVG file, then exit",
    )
    studio.add_argument(
        "--size",
        type=terminal_size,
        default=(120, 36),
        metavar="COLSxROWS",
        help="terminal size for --screenshot (default 120x36, the README's picture)",
    )
    studio.add_argument(
        "--serve",
        action="store_true",
        help="serve the studio to a browser (each tab its own studio) instead of this terminal",
    )
    studio.add_argument("--host", help="with --serve: the address to bind (default 127.0.0.1)")
    studio.add_argument(
        "--port", type=port_number, default=8000, help="with --serve: the port (default 8000)"
    )
    studio.add_argument(
        "--allow-remote",
        action="store_true",
        help="with --serve: allow a --host other machines can reach (they can train, load "
        "and delete runs)",
    )
    studio.set_defaults(func=_run("tui.cli.studio:cmd_studio"))

    export = sub.add_parser(
        "export",
        help="a checkpoint as a Hugging Face transformers folder (GPT-2 architecture)",
        description="Write a folder that transformers loads with "
        "AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained: safetensors "
        "weights, config and tokenizer. Designs GPT-2 cannot express are refused.",
    )
    export.add_argument("--checkpoint", help="checkpoint folder (default: the newest)")
    export.add_argument("--out", required=True, help="a new (or empty) folder to write")
    export.set_defaults(func=_run("tui.cli.export:cmd_export"))

    add_bench_parser(sub)
    add_experiment_parser(sub)
    add_inspect_parser(sub)
    add_runs_parser(sub)
    return parser


def add_runs_parser(sub) -> None:
    parser = sub.add_parser(
        "runs",
        help="export a run's metrics as CSV; compare two runs' settings",
        description="RUN is a run folder, or the name of a run under ./checkpoints.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="{export,diff}")
    export = actions.add_parser("export", help="a run's metrics.jsonl as CSV, one row a step")
    export.add_argument("run", metavar="RUN")
    export.add_argument(
        "--csv",
        required=True,
        metavar="OUT",
        help="a new file to write (an existing one is refused, never overwritten); - for stdout",
    )
    export.set_defaults(func=_run("tui.cli.runs:cmd_export"))
    diff = actions.add_parser("diff", help="the settings in which two runs differ, side by side")
    diff.add_argument("left", metavar="RUN")
    diff.add_argument("right", metavar="OTHER")
    diff.set_defaults(func=_run("tui.cli.runs:cmd_diff"))


def add_experiment_parser(sub) -> None:
    parser = sub.add_parser(
        "experiment",
        help="race design variants of the model against the baseline",
        description="Train the preset and variants of it side by side (same seeds, same data, "
        "interleaved blocks of steps) and compare the validation loss under the real causal "
        "mask, with a verdict computed against the seeds' noise. --scenario runs the race in "
        "which one lesson shows; --list names every scenario and variant.",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        help=f"the race that shows one lesson: {', '.join(SCENARIOS)}, or all",
    )
    parser.add_argument("--preset", default="tiny", help=f"{', '.join(PRESETS)} (default tiny)")
    parser.add_argument("--data", help="UTF-8 text file (default: the shipped Shakespeare)")
    parser.add_argument(
        "--steps", type=positive_int, help="steps per variant (default: the scenario's, or 300)"
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, raced against the baseline (default {DEFAULT_VARIANTS})",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        help=f"seeds per variant, for the noise band (default {DEFAULT_SEEDS} for a scenario, "
        "else 1)",
    )
    parser.add_argument("--seed", type=int, help="the first seed every variant shares")
    add_shape_flags(parser)
    parser.add_argument("--lr", type=positive_float, help="peak learning rate")
    parser.add_argument("--batch-size", type=positive_int, help="sequences per step")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=RACE_THREADS,
        help=f"torch threads (default {RACE_THREADS}: fastest measured for races of small models)",
    )
    parser.add_argument("--out", help="results folder (default checkpoints/experiments/NAME)")
    parser.add_argument("--open", metavar="DIR", help="show a saved race instead of running one")
    parser.add_argument("--list", action="store_true", help="list scenarios and variants and exit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=_run("tui.cli.experiment:cmd_experiment"))


DEFAULT_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


def add_inspect_parser(sub) -> None:
    parser = sub.add_parser(
        "inspect",
        help="attention, inside a head, knockouts, the logit and embedding lenses, the probe, "
        "the tape and sizing, as tables or JSON",
        description="What the studio's X-ray views compute, for scripts: every command reads "
        "the real model through forward hooks.",
    )
    views = parser.add_subparsers(
        dest="view",
        required=True,
        metavar="{attention,qkv,knockout,lens,embeddings,probe,tape,size}",
    )

    def with_checkpoint(name: str, help_text: str) -> argparse.ArgumentParser:
        view = views.add_parser(name, help=help_text)
        view.add_argument("--checkpoint", help="checkpoint folder (default: the newest)")
        view.add_argument("--text", default=DEFAULT_TEXT, help="the text to look at")
        view.add_argument("--json", action="store_true", help="print JSON")
        return view

    attention = with_checkpoint("attention", "one head's scores, scaled, masked and softmax-ed")
    attention.add_argument("--layer", type=non_negative_int, default=0)
    attention.add_argument("--head", type=non_negative_int, default=0)
    attention.add_argument("--no-scale", action="store_true", help="skip 1/sqrt(head_dim)")
    attention.add_argument(
        "--mask-fill",
        choices=["-inf", "0"],
        default="-inf",
        help="what the future's scores become before softmax (0: the leak)",
    )
    qkv = with_checkpoint("qkv", "one head's Q, K and V at a query, what arrives, the projection")
    qkv.add_argument("--layer", type=non_negative_int, default=0)
    qkv.add_argument("--head", type=non_negative_int, default=0)
    qkv.add_argument("--query", type=non_negative_int, help="position (default: the last)")
    knockout = with_checkpoint("knockout", "heads ranked by the loss rise when each is zeroed")
    knockout.add_argument(
        "--heads", help="also the tape without these heads together: layer.head,... from 0"
    )
    with_checkpoint("lens", "the residual stream decoded after the embeddings and each block")
    embeddings = with_checkpoint("embeddings", "position cosines; a token's nearest neighbours")
    embeddings.add_argument("--token", default="e", help="the token to look up (default e)")
    embeddings.add_argument("--count", type=positive_int, default=8, help="neighbours shown")
    embeddings.add_argument(
        "--positions", type=positive_int, default=16, help="rows of the position table compared"
    )
    probe = with_checkpoint("probe", "change one token; see which positions move")
    probe.add_argument("--position", type=non_negative_int, required=True)
    with_checkpoint("tape", "each position's prediction of the next token, and its loss")
    size = views.add_parser("size", help="parameters, memory, FLOPs and time of a model shape")
    add_model_flags(size)
    size.add_argument("--text", help="also show this text's tokens under char and BPE")
    size.add_argument("--data", help="corpus the tokenizers are fitted to (default: shipped)")
    size.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_run("tui.cli.inspect:cmd_inspect"))
