"""Faults during `minigpt train`: kills, signals, full or read-only disks, a second writer.

Each test checks the promise that matters: nothing the user made is lost, the folder's last
checkpoint loads and resumes, and metrics.jsonl agrees with it.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import RunLock, TrainingSession, load_checkpoint, load_model
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]
KILL_ROUNDS = 4


def _train(corpus: Path, out: Path, *flags: str) -> int:
    return main(["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out), *flags])


def _resume(corpus: Path, out: Path, *flags: str) -> int:
    return main(["train", "--data", str(corpus), "--resume", str(out), *flags])


def _one_line_error(capsys, code: int, pattern: str) -> None:
    """Exit 2 and one error line, last, naming the problem (progress lines may come first)."""
    err = capsys.readouterr().err.strip()
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("minigpt: error")]
    assert errors == [err.splitlines()[-1]], err
    assert pattern in errors[0] and "Traceback" not in err


def _child(corpus: Path, out: Path, *flags: str) -> subprocess.Popen:
    """A long `minigpt train` run that evaluates and saves at every step."""
    command = [sys.executable, "-m", "tui", "train", "--preset", "tiny", "--data", str(corpus)]
    command += ["--out", str(out), "--steps", "100000", "--eval-interval", "1", "--threads", "1"]
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.Popen(
        [*command, *flags],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _wait_for_evaluations(child: subprocess.Popen, count: int) -> None:
    seen = 0
    for line in child.stderr:
        if "val loss" in line:
            seen += 1
            if seen == count:
                return
    raise AssertionError(f"training ended after {seen} evaluations")


def _logged_steps(out: Path) -> list[int]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


@pytest.mark.slow  # a child process and a signal
@pytest.mark.parametrize("round_index", range(KILL_ROUNDS))
def test_kill_9_at_a_random_point_loses_nothing_the_checkpoint_covers(
    corpus, tmp_path, round_index: int
) -> None:
    out = tmp_path / "run"
    child = _child(corpus, out)
    # every step evaluates and saves, so the kill lands inside a save about half the time
    _wait_for_evaluations(child, random.Random(round_index).randint(1, 6))
    child.kill()
    child.wait()
    child.stderr.close()
    checkpoint = load_checkpoint(out)
    model, _ = load_model(out)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert max(_logged_steps(out)) >= checkpoint.step  # no checkpointed step without its line
    assert _resume(corpus, out, "--steps", str(checkpoint.step + 2)) == 0
    assert _logged_steps(out) == list(range(1, checkpoint.step + 3))  # no duplicate, no gap
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow  # a child process and a signal
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_save_and_exit_zero(corpus, tmp_path, signum: int) -> None:
    out = tmp_path / "run"
    child = _child(corpus, out)
    _wait_for_evaluations(child, 1)
    child.send_signal(signum)
    rest = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 0
    checkpoint = load_checkpoint(out)
    assert _logged_steps(out)[-1] == checkpoint.step
    if signum != signal.SIGHUP:  # after a hang-up nothing is printed: the terminal is gone
        assert f"minigpt train --resume {out} --data {corpus}" in rest.splitlines()


def test_non_finite_weights_are_never_saved(tiny_config, text, tmp_path) -> None:
    session = TrainingSession(tiny_config, text, "cpu", tmp_path / "run")
    events = session.steps()
    for event in events:
        if event.checkpoint is not None:
            break
    good = load_checkpoint(tmp_path / "run")
    next(events)  # one step past the checkpoint: the stop below has something to save
    with torch.no_grad():
        session.model.embeddings.token.weight.fill_(float("nan"))
    session.stop()
    with pytest.raises(ValueError, match=f"last good checkpoint \\(step {good.step}\\)"):
        list(events)
    kept = load_checkpoint(tmp_path / "run")
    assert kept.step == good.step
    torch.testing.assert_close(kept.model_state, good.model_state)


def test_divergence_is_one_line_and_keeps_the_last_checkpoint(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = _train(corpus, out, "--lr", "1000", "--grad-clip", "0", "--eval-interval", "1")
    _one_line_error(capsys, code, "became")
    if (out / "checkpoint.json").exists():
        model, _ = load_model(out)
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_second_trainer_into_a_busy_folder_is_refused(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    with RunLock(out):
        code = _train(corpus, out, "--steps", "2")
        _one_line_error(capsys, code, f"in use by another training run (pid {os.getpid()})")
    assert not (out / "metrics.jsonl").exists()


@pytest.mark.slow  # a child process and a signal
def test_resume_into_a_running_folder_is_refused(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    child = _child(corpus, out)
    try:
        _wait_for_evaluations(child, 1)
        before = _logged_steps(out)
        code = _resume(corpus, out)
        _one_line_error(capsys, code, f"(pid {child.pid})")
        assert _logged_steps(out)[: len(before)] == before  # its log was not trimmed
    finally:
        child.kill()
        child.wait()
        child.stderr.close()


@pytest.mark.slow  # a child process and a signal
def test_lock_left_by_a_killed_process_does_not_block(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    holder.stdout.close()
    assert _train(corpus, out, "--steps", "2") == 0
    assert load_checkpoint(out).step == 2


HOLDER = (
    "import sys\nfrom core import RunLock\nRunLock(sys.argv[1]).acquire()\n"
    "print('locked', flush=True)\nsys.stdin.read()\n"
)


def test_save_removes_only_files_this_code_wrote(tiny_config, text, tmp_path) -> None:
    out = tmp_path / "run"
    session = TrainingSession(tiny_config, text, "cpu", out)
    session.step = 1
    session.save()
    mine = [
        "weights.safetensors",
        "notes.tmp",
        ".notes.swp.tmp",
        "model-9.safetensors",
        ".tmpAb12Cd",  # another program's temporary name: not this code's
        ".notes.1.deadbeef.tmp",
        "user_weights.safetensors",
        "model-00000003.safetensors",  # the name the next save would take
    ]
    for name in mine:
        (out / name).write_text("the user's")
    leftover = ".minigpt-tmp.model-00000002.safetensors.4242.0123abcd.tmp"
    (out / leftover).write_bytes(b"half a save")
    orphan = out / "model-00000002.safetensors"  # renamed into place, manifest never written
    orphan.write_bytes(b"unreferenced")
    # a pending record may name only this code's files: the user's stays
    pending = [orphan.name, "user_weights.safetensors"]
    (out / ".checkpoint-pending.json").write_text(json.dumps(pending))
    session.step = 3
    session.save()
    names = {p.name for p in out.iterdir()}
    assert set(mine) <= names and all((out / n).read_text() == "the user's" for n in mine)
    assert leftover not in names and orphan.name not in names
    checkpoint = load_checkpoint(out)
    assert checkpoint.step == 3
    saved = json.loads((out / "checkpoint.json").read_text())["files"]
    assert saved["model"].startswith("model-00000003-")  # a fresh name beside the user's
    assert saved["state"] == "state-00000003.safetensors"


def test_resume_drops_metrics_past_the_checkpoint_and_a_torn_line(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "4", "--eval-interval", "2") == 0
    with open(out / "metrics.jsonl", "a") as log:
        log.write(json.dumps({"step": 5, "loss": 1.0}) + "\n")
        log.write('{"step": 6, "lo')
    assert _resume(corpus, out, "--steps", "6") == 0
    assert _logged_steps(out) == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_another_corpus_unless_allowed(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "2") == 0
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text()[::-1])  # same characters, another text
    capsys.readouterr()
    code = main(["train", "--data", str(other), "--resume", str(out), "--steps", "3"])
    _one_line_error(capsys, code, "another corpus")
    args = ["train", "--data", str(other), "--resume", str(out), "--steps", "3"]
    assert main([*args, "--allow-other-data"]) == 0
    assert load_checkpoint(out).step == 3


@pytest.mark.parametrize("flags", [["--lr", "0.1"], ["--num-layers", "3"], ["--preset", "seed"]])
def test_resume_refuses_flags_the_checkpoint_fixes(corpus, tmp_path, capsys, flags) -> None:
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "2") == 0
    capsys.readouterr()
    code = main(["train", "--data", str(corpus), "--resume", str(out), *flags])
    _one_line_error(capsys, code, f"{flags[0]} cannot change when resuming")


def test_command_txt_keeps_every_command_of_the_run(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "2") == 0
    assert _resume(corpus, out, "--steps", "3") == 0
    commands = (out / "command.txt").read_text().splitlines()
    assert len(commands) == 2 and "--resume" in commands[1]


def test_out_under_a_regular_file_is_one_line(corpus, tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(capsys, _train(corpus, blocker / "run", "--steps", "2"), "cannot write")


@pytest.fixture
def small_disk(tmp_path):
    """A 600 kB tmpfs: room for one tiny checkpoint, not for writing a second beside it."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)])
    if made.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_one_line_and_keeps_the_checkpoint(corpus, small_disk, capsys) -> None:
    out = small_disk / "run"
    code = _train(corpus, out, "--steps", "40", "--eval-interval", "2")
    _one_line_error(capsys, code, "No space left on device")
    checkpoint = load_checkpoint(out)
    assert checkpoint.step >= 2
    load_model(out)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_read_only_folder_is_one_line_and_keeps_the_checkpoint(corpus, small_disk, capsys):
    out = small_disk / "run"
    assert _train(corpus, out, "--steps", "2") == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    capsys.readouterr()
    _one_line_error(capsys, _resume(corpus, out, "--steps", "4"), "cannot write")
    _one_line_error(capsys, _train(corpus, small_disk / "new", "--steps", "2"), "cannot write")
    assert load_checkpoint(out).step == 2


def test_resume_never_writes_through_a_symlinked_command_file(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "2") == 0
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    (out / "command.txt").unlink()
    (out / "command.txt").symlink_to(outside)
    capsys.readouterr()
    _one_line_error(capsys, _resume(corpus, out, "--steps", "3"), "symbolic link")
    assert outside.read_text() == "mine\n"


def test_a_second_ctrl_c_waits_for_a_save_under_way_and_quits_otherwise(
    tiny_config, text, tmp_path
) -> None:
    from rich.console import Console

    from tui.cli.train import StopSignals

    session = TrainingSession(tiny_config, text, "cpu", tmp_path / "run")
    console = Console(file=io.StringIO(), width=120)
    handler = StopSignals(session, console)
    handler(signal.SIGINT)
    assert session.stopped
    with session._save_lock:  # as while the stop's checkpoint is written
        handler(signal.SIGINT)  # waited for: no KeyboardInterrupt
    assert "saving the checkpoint first" in console.file.getvalue()
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT)  # between saves: quit now
