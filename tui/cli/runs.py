"""`minigpt runs`: a run's metrics exported as CSV, and two runs' settings compared."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import export_metrics, metrics_rows, read_run, settings_diff, write_csv
from tui.cli.args import UsageError
from tui.paths import checkpoints_root


def run_folder(name: str) -> Path:
    """A run folder given as a path, or by its name under ./checkpoints."""
    path = Path(name)
    if path.is_dir():
        return path
    under = checkpoints_root() / name
    if path.name == name and under.is_dir():
        return under
    raise UsageError(
        f"no run folder {name}: give a folder made by minigpt train, or the name of a run "
        f"under {checkpoints_root()}/"
    )


def cmd_export(args: argparse.Namespace) -> int:
    folder = run_folder(args.run)
    if args.csv == "-":
        write_csv(metrics_rows(folder), sys.stdout)
        return 0
    rows = export_metrics(folder, args.csv)
    print(f"wrote {rows} steps of {folder} to {args.csv}", file=sys.stderr)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    left, right = read_run(run_folder(args.left)), read_run(run_folder(args.right))
    diffs = settings_diff(left, right)
    if not diffs:
        print(f"{left.name} and {right.name} have the same settings, corpus and steps done")
        return 0
    rows = [("setting", left.name, right.name), *((d.name, d.left, d.right) for d in diffs)]
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    for name, ours, theirs in rows:
        print(f"{name:<{widths[0]}}  {ours:<{widths[1]}}  {theirs}".rstrip())
    return 0
