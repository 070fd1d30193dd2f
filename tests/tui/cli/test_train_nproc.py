"""`minigpt train --nproc N` and `torchrun -m tui.cli train`: ranks under torchrun, a Ctrl+C that
stops them all with rank 0's save, and what a resume may change about the world."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import load_checkpoint
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]
RUN_TIMEOUT = 120  # seconds: three Python processes start (~3 s each), train, save and exit


def _logged_steps(out: Path) -> list[int]:
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["step"] for line in lines if line.endswith("}")]


def test_nproc_runs_two_ranks_and_ctrl_c_stops_both_after_a_save(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tui", "train", "--nproc", "2", "--preset", "tiny"]
    command += ["--data", str(corpus), "--out", str(out), "--steps", "100000"]
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(_logged_steps(out)) < 5:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        child.send_signal(signal.SIGINT)  # as Ctrl+C reaches torchrun; it tells every rank
        _, err = child.communicate(timeout=RUN_TIMEOUT)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGINT, err
    checkpoint = load_checkpoint(out)
    assert checkpoint.step == _logged_steps(out)[-1] >= 5
    assert checkpoint.extra["world_size"] == 2
    assert "stopped (Ctrl+C)" in err and "--resume" in err and "--nproc 2" in err
    assert (out / "command.txt").read_text().strip().endswith("--nproc 2")


def test_torchrun_runs_the_cli_module_as_ranks(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "-m"]
    command += ["tui.cli", "train", "--preset", "tiny", "--data", str(corpus), "--out", str(out)]
    result = subprocess.run(
        [*command, "--steps", "6", "--grad-accum", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.step == 6 and checkpoint.extra["data_streams"] == 2
    assert checkpoint.config.grad_accum == 2
    assert _logged_steps(out) == list(range(1, 7))
    assert "global batch: 32 sequences (8 a micro-batch x 2 a step x 2 processes)" in result.stderr


def test_resume_may_change_the_world_and_the_accumulation(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out)]) == 0
    resume = ["train", "--resume", str(out), "--data", str(corpus), "--steps", "44"]
    assert main([*resume, "--grad-accum", "2", "--nproc", "1"]) == 0
    checkpoint = load_checkpoint(out)
    assert checkpoint.step == 44 and checkpoint.config.grad_accum == 2


def test_nproc_under_torchrun_is_one_line(corpus, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["train", "--nproc", "2", "--data", str(corpus), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "under torchrun, drop --nproc" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", ["--nproc", "--grad-accum"])
def test_nproc_and_grad_accum_must_be_positive(flag, capsys) -> None:
    assert main(["train", flag, "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


def _processes_naming(text: str) -> list[int]:
    """The pids whose command line names `text` (the run's folder: the launcher's ranks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue  # it ended while being read
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal")
def test_killing_the_nproc_launcher_ends_its_ranks(corpus, tmp_path) -> None:
    out = tmp_path / "orphans"
    command = [sys.executable, "-m", "tui", "train", "--nproc", "2", "--preset", "tiny"]
    command += ["--data", str(corpus), "--out", str(out), "--steps", "100000"]
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(_logged_steps(out)) < 3:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        child.kill()  # kill -9: the launcher cannot tell its ranks anything
        child.wait(timeout=10)
        while _processes_naming(str(out)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_naming(str(out)) == []  # no rank trains on
    finally:
        child.kill()
        for pid in _processes_naming(str(out)):
            os.kill(pid, signal.SIGKILL)
