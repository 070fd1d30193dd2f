"""The `minigpt` command: train, sample, chat, bench and the studio."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core import UserError
from tui.cli.args import (
    OneLineParser,
    UsageError,
    add_model_flags,
    add_sampling_flags,
    positive_int,
)
from tui.cli.bench import add_bench_parser
from tui.cli.experiment import add_experiment_parser
from tui.cli.generate import cmd_chat, cmd_sample
from tui.cli.inspect import add_inspect_parser
from tui.cli.train import cmd_train

EXIT_USAGE = 2


def cmd_studio(args: argparse.Namespace) -> int:
    # Textual loads only for the studio: train, sample and chat start without it
    from tui.studio.app import run_studio

    if args.watch is not None and not Path(args.watch).is_dir():
        raise UsageError(
            f"{args.watch} is not a run folder; start the run first (minigpt train --out "
            f"{args.watch}) or give the folder it writes metrics.jsonl into"
        )
    return run_studio(args.preset, args.data, args.checkpoint, args.threads, args.watch)


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
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="generate text from a checkpoint")
    add_sampling_flags(sample)
    sample.add_argument("--prompt", default="", help="start text (empty: a newline)")
    sample.add_argument("--max-new-tokens", type=positive_int, default=200)
    sample.add_argument("--no-cache", action="store_true", help="recompute without the KV cache")
    sample.add_argument("--show-probs", action="store_true", help="top candidates to stderr")
    sample.set_defaults(func=cmd_sample)

    chat = sub.add_parser("chat", help="a terminal chat over a checkpoint")
    add_sampling_flags(chat)
    chat.add_argument("--max-new-tokens", type=positive_int, default=300)
    chat.set_defaults(func=cmd_chat)

    studio = sub.add_parser("studio", help="open the studio (the default)")
    studio.add_argument("--checkpoint", help="checkpoint folder for Generate and Chat")
    studio.add_argument("--data", help="UTF-8 text file to train on")
    studio.add_argument("--preset", default="small", help="the training form's preset")
    studio.add_argument(
        "--threads", type=positive_int, help="torch threads for training (default: every core)"
    )
    studio.add_argument(
        "--watch",
        metavar="DIR",
        help="follow the run training into DIR (its metrics.jsonl), read-only",
    )
    studio.set_defaults(func=cmd_studio)

    add_bench_parser(sub)
    add_experiment_parser(sub)
    add_inspect_parser(sub)
    return parser


def _who() -> str:
    """`minigpt`, or `minigpt (rank R)` in a process torchrun started as rank R > 0."""
    rank = os.environ.get("RANK", "0")
    return "minigpt" if rank == "0" else f"minigpt (rank {rank})"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
            argv = ["studio", *argv]
        args = parser.parse_args(argv)
        args.argv = argv
        return args.func(args)
    except UsageError as error:
        print(f"{_who()}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as error:  # core's messages say what to change
        print(f"{_who()}: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("minigpt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
