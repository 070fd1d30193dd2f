"""A run's metrics exported as CSV: one row per logged step, never over an existing file."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core import (
    CSV_COLUMNS,
    METRICS_FILE,
    PRESETS,
    TrainingSession,
    UserError,
    export_metrics,
    free_export_path,
    read_curves,
)
from tests.conftest import TEXT

TINY = replace(PRESETS["tiny"], max_steps=6, eval_interval=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    list(TrainingSession(TINY, TEXT, "cpu", out).steps())
    return out


@pytest.fixture
def run(tmp_path, trained) -> Path:
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_export_writes_one_row_per_logged_step_under_named_columns(run, tmp_path) -> None:
    out = tmp_path / "metrics.csv"
    assert export_metrics(run, out) == TINY.max_steps
    rows = _rows(out)
    assert tuple(rows[0]) == CSV_COLUMNS
    curves = read_curves(run)
    assert [int(row["step"]) for row in rows] == list(curves.steps)
    assert [float(row["train_loss"]) for row in rows] == list(curves.losses)  # every digit
    evaluated = [int(row["step"]) for row in rows if row["val_loss"]]
    assert evaluated == list(curves.val_steps) == [3, 6]
    per_step = TINY.batch_size * TINY.block_size
    assert [int(row["tokens"]) for row in rows] == [step * per_step for step in curves.steps]
    assert all(float(row["lr"]) > 0 and row["clipped"] in ("0", "1") for row in rows)


def test_export_refuses_an_existing_file_and_leaves_it_as_it_was(run, tmp_path) -> None:
    out = tmp_path / "mine.csv"
    out.write_text("my own numbers\n")
    with pytest.raises(UserError, match="already exists; choose another file name"):
        export_metrics(run, out)
    assert out.read_text() == "my own numbers\n"


def test_export_never_writes_through_a_link(run, tmp_path) -> None:
    target = tmp_path / "elsewhere.csv"
    (tmp_path / "link.csv").symlink_to(target)
    with pytest.raises(UserError, match="already exists"):
        export_metrics(run, tmp_path / "link.csv")
    assert not target.exists()


def test_export_of_a_run_without_logged_steps_is_refused_and_writes_nothing(run, tmp_path):
    (run / METRICS_FILE).unlink()
    with pytest.raises(UserError, match="no logged steps"):
        export_metrics(run, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_export_into_a_missing_folder_says_it_cannot_write(run, tmp_path) -> None:
    with pytest.raises(UserError, match="cannot write"):
        export_metrics(run, tmp_path / "no-such-folder" / "out.csv")


def test_studio_exports_take_the_next_free_name_in_the_run_folder(run) -> None:
    assert free_export_path(run) == run / "metrics.csv"
    export_metrics(run, free_export_path(run))
    assert free_export_path(run) == run / "metrics-2.csv"
