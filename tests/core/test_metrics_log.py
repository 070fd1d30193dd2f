"""Reading a metrics log another process writes: growth, torn lines, rewrites, foreign lines."""

from __future__ import annotations

import json
import os

import pytest

from core import StepMetrics, UserError, append_line, read_metrics
from core.checkpoint.run_folder import MetricsLog, trim_metrics


def _line(step: int) -> str:
    values = dict(step=step, max_steps=9, loss=2.5, grad_norm=1.0, lr=1e-3)
    return json.dumps({**values, "tokens_per_second": 100.0, "elapsed": 0.1 * step}) + "\n"


def test_read_metrics_returns_only_new_complete_lines(tmp_path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text(_line(1) + _line(2) + _line(3)[:10])
    steps, cursor, restarted = read_metrics(log)
    assert [m.step for m in steps] == [1, 2] and not restarted
    with log.open("a") as file:
        file.write(_line(3)[10:] + _line(4))
    steps, cursor, restarted = read_metrics(log, cursor)
    assert [m.step for m in steps] == [3, 4] and not restarted
    assert read_metrics(log, cursor)[0] == []


def test_read_metrics_starts_over_when_the_log_is_replaced_or_cut(tmp_path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(_line(step) for step in range(1, 6)))
    _, cursor, _ = read_metrics(log)
    trim_metrics(log, 2)  # a new, shorter file in its place
    steps, cursor, restarted = read_metrics(log, cursor)
    assert restarted and [m.step for m in steps] == [1, 2]
    with log.open("a") as file:
        file.write(_line(3))
    _, cursor, _ = read_metrics(log, cursor)
    os.truncate(log, len(_line(1)))  # the same file, cut below what was read
    steps, _, restarted = read_metrics(log, cursor)
    assert restarted and [m.step for m in steps] == [1]


def test_read_metrics_skips_foreign_lines_and_waits_for_a_missing_log(tmp_path) -> None:
    log = tmp_path / "metrics.jsonl"
    steps, cursor, restarted = read_metrics(log)
    assert steps == [] and cursor.offset == 0 and not restarted
    log.write_text('{"note": "hand-written"}\nnot json\n[1, 2]\n{"step": "one"}\n' + _line(7))
    steps, _, _ = read_metrics(log)
    assert [m.step for m in steps] == [7] and steps[0].val_loss is None


def test_a_symlinked_metrics_log_is_refused_and_its_target_untouched(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").symlink_to(outside)
    log = MetricsLog(run / "metrics.jsonl")
    with pytest.raises(UserError, match="symbolic link"):
        log.write(StepMetrics(1, 1, 3.0, 1.0, 1e-3, 100.0, 0.1, False), saved_step=0)
    with pytest.raises(UserError, match="symbolic link"):
        trim_metrics(run / "metrics.jsonl", 0)
    assert outside.read_text() == "mine\n"
    assert read_metrics(run / "metrics.jsonl")[0] == []  # nothing a run wrote: nothing to read


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_fifo_or_device_metrics_log_neither_hangs_nor_floods(tmp_path) -> None:
    os.mkfifo(tmp_path / "metrics.jsonl")
    assert read_metrics(tmp_path / "metrics.jsonl")[0] == []  # returns at once
    with pytest.raises(UserError, match="not a regular file"):
        trim_metrics(tmp_path / "metrics.jsonl", 0)
    if os.path.exists("/dev/zero"):
        (tmp_path / "zero").mkdir()
        (tmp_path / "zero" / "metrics.jsonl").symlink_to("/dev/zero")
        with pytest.raises(UserError):
            trim_metrics(tmp_path / "zero" / "metrics.jsonl", 0)


def test_command_lines_are_never_appended_through_a_symlink(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    (tmp_path / "command.txt").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link"):
        append_line(tmp_path / "command.txt", "minigpt train")
    assert outside.read_text() == "mine\n"
    append_line(tmp_path / "own.txt", "minigpt train")
    assert (tmp_path / "own.txt").read_text() == "minigpt train\n"
