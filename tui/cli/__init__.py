"""The `minigpt` command: train, sample, chat, bench and the studio."""

from __future__ import annotations

import os
import sys

from core import UserError
from tui.cli.args import UsageError
from tui.cli.parsers import build_parser

EXIT_USAGE = 2


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
