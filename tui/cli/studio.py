"""`minigpt studio`: open the Textual app (the default command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.cli.args import UsageError


def cmd_studio(args: argparse.Namespace) -> int:
    given = [flag for flag in ("--host", "--port", "--allow-remote") if _given(args, flag)]
    if given and not args.serve:
        raise UsageError(f"{', '.join(given)} only apply with --serve; add it or drop them")
    if args.watch is not None and not Path(args.watch).is_dir():
        raise UsageError(
            f"{args.watch} is not a run folder; start the run first (minigpt train --out "
            f"{args.watch}) or give the folder it writes metrics.jsonl into"
        )
    if args.serve:
        from tui.cli.serve import serve_studio

        return serve_studio(args)
    # Textual loads only for the studio: train, sample and chat start without it
    from tui.studio.app import run_studio

    return run_studio(
        args.preset,
        args.data,
        args.checkpoint,
        args.threads,
        args.watch,
        screenshot=args.screenshot,
        size=args.size,
        weights=args.weights,
    )


def _given(args: argparse.Namespace, flag: str) -> bool:
    argv = getattr(args, "argv", [])
    return any(token == flag or token.startswith(flag + "=") for token in argv)
