"""minigpt runs: a run's metrics exported as CSV, and two runs' settings compared."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tui.cli import main


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """checkpoints/a and checkpoints/b: 4 tiny steps each, b at another learning rate."""
    root = tmp_path_factory.mktemp("cli-runs") / "checkpoints"
    corpus = root.parent / "corpus.txt"
    corpus.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20)
    for name, flags in (("a", []), ("b", ["--lr", "0.001"])):
        argv = ["train", "--preset", "tiny", "--steps", "4", "--eval-interval", "2"]
        assert main([*argv, "--data", str(corpus), "--out", str(root / name), *flags]) == 0
    return root


def _one_line_error(capsys, code: int, pattern: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert pattern in err and "Traceback" not in err


def test_runs_export_writes_the_metrics_as_csv_and_says_where(two_runs, tmp_path, capsys):
    out = tmp_path / "a.csv"
    assert main(["runs", "export", str(two_runs / "a"), "--csv", str(out)]) == 0
    with open(out, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["step"] for row in rows] == ["1", "2", "3", "4"]
    assert f"wrote 4 steps of {two_runs / 'a'} to {out}" in capsys.readouterr().err


def test_runs_export_refuses_an_existing_file_in_one_line(two_runs, tmp_path, capsys):
    out = tmp_path / "kept.csv"
    out.write_text("mine\n")
    code = main(["runs", "export", str(two_runs / "a"), "--csv", str(out)])
    _one_line_error(capsys, code, "already exists; choose another file name")
    assert out.read_text() == "mine\n"


def test_runs_export_of_a_missing_run_says_what_to_give(tmp_path, capsys):
    code = main(["runs", "export", str(tmp_path / "nope"), "--csv", str(tmp_path / "x.csv")])
    _one_line_error(capsys, code, "give a folder made by minigpt train")


def test_runs_export_to_stdout_writes_the_header_first(two_runs, capsys):
    assert main(["runs", "export", str(two_runs / "b"), "--csv", "-"]) == 0
    assert capsys.readouterr().out.startswith("step,train_loss,val_loss,grad_norm")


def test_runs_diff_prints_only_the_settings_that_differ(two_runs, capsys):
    assert main(["runs", "diff", str(two_runs / "a"), str(two_runs / "b")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["setting", "a", "b"]
    assert [line.split() for line in lines[1:]] == [["learning_rate", "0.003", "0.001"]]


def test_a_run_is_found_by_its_name_under_checkpoints(two_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(two_runs.parent)  # ./checkpoints of the working folder
    assert main(["runs", "export", "a", "--csv", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "a.csv").read_text().count("\n") == 5
