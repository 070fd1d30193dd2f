"""`minigpt studio`: open the Textual app (the default command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.cli.args import UsageError


def cmd_studio(args: argparse.Namespace) -> int:
    # Textual loads only for the studio: train, sample and chat start without it
    from tui.studio.app import run_studio

    if args.watch is not None and not Path(args.watch).is_dir():
        raise UsageError(
            f"{args.watch} is not a run folder; start the run first (minigpt train --out "
            f"{args.watch}) or give the folder it writes metrics.jsonl into"
        )
    return run_studio(
        args.preset,
        args.data,
        args.checkpoint,
        args.threads,
        args.watch,
        screenshot=args.screenshot,
        size=args.size,
    )
