"""A run's metrics log as CSV, one row per logged step, for a spreadsheet or pandas. An export
never replaces a file: it is created new or refused."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import TextIO

from core.checkpoint.manifest import check_manifest, read_manifest
from core.checkpoint.run_folder import METRICS_FILE, read_metrics
from core.errors import UserError
from core.events import StepMetrics

CSV_COLUMNS = (
    "step",
    "train_loss",
    "val_loss",  # empty between evaluations
    "grad_norm",  # before clipping
    "clipped",  # 1 where the update was scaled down to grad_clip
    "lr",
    "tokens",  # seen so far: steps x the checkpoint's tokens per step (empty without one)
    "tokens_per_second",
    "elapsed_seconds",  # of training, resumed runs included
)
_EXPORT_NAME = re.compile(r"^metrics(-[0-9]+)?\.csv$")  # what the studio names its exports


def is_export_file(name: str) -> bool:
    """A name the studio gives the CSV exports it writes into a run folder."""
    return _EXPORT_NAME.match(name) is not None


def logged_steps(directory: str | Path) -> list[StepMetrics]:
    """Every step of a run folder's metrics log, in order (empty when it has none)."""
    steps: list[StepMetrics] = []
    cursor = None
    while True:
        chunk, cursor, restarted = read_metrics(Path(directory) / METRICS_FILE, cursor)
        if restarted:  # rewritten while being read (a resume trimmed it): read it again
            steps = []
        if not chunk and not restarted:
            return steps
        steps += chunk


def _tokens_per_step(directory: Path) -> int | None:
    try:
        contents = check_manifest(read_manifest(directory), directory, False)
    except UserError:
        return None
    config, world = contents.config, contents.extra.get("world_size", 1)
    return config.batch_size * config.block_size * config.grad_accum * world


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)  # repr: every digit, read back exactly


def metrics_rows(directory: str | Path) -> list[tuple]:
    """The CSV's rows under CSV_COLUMNS; UserError when the run has no logged step."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"no run folder at {directory}; give a folder made by minigpt train")
    steps = logged_steps(directory)
    if not steps:
        raise UserError(f"{directory} has no logged steps (no {METRICS_FILE}); nothing to export")
    per_step = _tokens_per_step(directory)
    return [
        (
            metrics.step,
            _number(metrics.loss),
            _number(metrics.val_loss),
            _number(metrics.grad_norm),
            int(metrics.clipped),
            _number(metrics.lr),
            "" if per_step is None else metrics.step * per_step,
            _number(metrics.tokens_per_second),
            _number(metrics.elapsed),
        )
        for metrics in steps
    ]


def write_csv(rows: list[tuple], file: TextIO) -> None:
    """The header and `rows` as CSV into an open text file."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)


def export_metrics(directory: str | Path, out: str | Path) -> int:
    """Write the run's metrics as CSV into `out`, a new file; returns the rows written.
    UserError in one line when `out` exists (it is left as it was) or cannot be written."""
    rows, out = metrics_rows(directory), Path(out)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(out, flags, 0o644)  # O_EXCL: never over a file, nor through a link
    except FileExistsError:
        raise UserError(
            f"{out} already exists; choose another file name (nothing was overwritten)"
        ) from None
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}") from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as file:
            write_csv(rows, file)
    except OSError as error:
        out.unlink(missing_ok=True)  # a half-written export of its own, never another file
        raise UserError(f"cannot write {out}: {error.strerror or error}") from None
    return len(rows)


def free_export_path(directory: str | Path) -> Path:
    """Where the studio exports a run's metrics: metrics.csv in its folder, else metrics-2.csv,
    metrics-3.csv ... (an earlier export is kept)."""
    path, count = Path(directory) / "metrics.csv", 1
    while os.path.lexists(path):
        count += 1
        path = Path(directory) / f"metrics-{count}.csv"
    return path
