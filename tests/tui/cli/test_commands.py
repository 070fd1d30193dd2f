"""The minigpt CLI: training, sampling, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import load_checkpoint
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _train(corpus: Path, out: Path, *flags: str) -> int:
    return main(["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out), *flags])


def _one_line_error(capsys, code: int, pattern: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert pattern in err and "Traceback" not in err


def test_train_writes_checkpoint_and_metrics(corpus, tmp_path) -> None:
    assert _train(corpus, tmp_path / "run", "--steps", "12", "--eval-interval", "6") == 0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 13))
    assert load_checkpoint(tmp_path / "run").step == 12
    assert "minigpt train" in (tmp_path / "run" / "command.txt").read_text()


def test_model_flags_override_the_preset(corpus, tmp_path) -> None:
    flags = ["--steps", "2", "--embedding-dim", "24", "--num-heads", "3", "--block-size", "12"]
    assert _train(corpus, tmp_path / "run", *flags) == 0
    config = load_checkpoint(tmp_path / "run").config
    assert (config.embedding_dim, config.num_heads, config.block_size) == (24, 3, 12)


def test_sample_greedy_is_identical_with_and_without_cache(corpus, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert _train(corpus, run, "--steps", "30", "--block-size", "64") == 0
    capsys.readouterr()
    outputs = []
    for flags in ([], ["--no-cache"]):
        args = ["sample", "--checkpoint", str(run), "--prompt", "All:", "--temperature", "0"]
        assert main([*args, "--max-new-tokens", "600", *flags]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("All:") and len(outputs[0]) > 600


@pytest.mark.parametrize("weights", ["fp32", "bf16", "int8", "auto"])
def test_sample_decodes_with_the_weights_asked_for(weights, corpus, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _train(corpus, run, "--steps", "3")
    capsys.readouterr()
    args = ["sample", "--checkpoint", str(run), "--max-new-tokens", "20", "--temperature", "0"]
    assert main([*args, "--weights", weights]) == 0
    out, err = capsys.readouterr()
    assert len(out) >= 20
    # auto keeps fp32 for a model this small, without measuring
    assert f"decoding with {'fp32' if weights == 'auto' else weights} weights" in err


def test_sample_show_probs_writes_candidates_to_stderr(corpus, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _train(corpus, run, "--steps", "5")
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--max-new-tokens", "3", "--show-probs"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("checkpoint ") and len(err) == 1 + 3  # which checkpoint, 3 steps


@pytest.mark.parametrize(
    "flags, pattern",
    [
        (["--data", "missing.txt"], "does not exist"),
        (["--steps", "0"], "--steps"),
        (["--batch-size", "-2"], "--batch-size"),
        (["--lr", "0"], "--lr"),
        (["--preset", "huge"], "unknown preset"),
        (["--block-size", "4000"], "block-size"),
        (["--num-heads", "5"], "divisible"),
    ],
)
def test_bad_train_input_is_one_line(flags, pattern, corpus, tmp_path, capsys) -> None:
    args = ["train", "--data", str(corpus), "--out", str(tmp_path / "run"), *flags]
    if "--preset" not in flags:
        args += ["--preset", "tiny"]
    if "missing.txt" in flags:
        args[args.index("--data", 2) + 1] = str(tmp_path / "missing.txt")
    _one_line_error(capsys, main(args), pattern)


@pytest.mark.parametrize(
    "content, pattern",
    [(b"", "empty"), (b"\x00\x01\x02binary", "binary"), (b"\xff\xfe caf\xe9", "UTF-8")],
)
def test_bad_corpus_is_one_line(content, pattern, tmp_path, capsys) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    _one_line_error(capsys, _train(path, tmp_path / "run"), pattern)


def test_directory_as_corpus_is_one_line(tmp_path, capsys) -> None:
    _one_line_error(capsys, _train(tmp_path, tmp_path / "run"), "directory")


def test_resume_without_checkpoint_is_one_line(corpus, tmp_path, capsys) -> None:
    code = main(["train", "--data", str(corpus), "--resume", str(tmp_path)])
    _one_line_error(capsys, code, "no checkpoint")


def test_existing_checkpoint_is_never_overwritten(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run", "--steps", "2")
    capsys.readouterr()
    _one_line_error(capsys, _train(corpus, tmp_path / "run", "--steps", "2"), "--resume")


def test_resume_on_another_vocabulary_is_one_line(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run", "--steps", "2")
    other = tmp_path / "other.txt"
    other.write_text("\u00e9\u00e8\u00ea zzz " * 200)
    capsys.readouterr()
    code = main(["train", "--data", str(other), "--resume", str(tmp_path / "run")])
    _one_line_error(capsys, code, "vocabulary")


@pytest.mark.parametrize(
    "flags, pattern",
    [
        (["--temperature", "-1"], "--temperature"),
        (["--top-k", "0"], "--top-k"),
        (["--top-p", "1.5"], "top_p"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--prompt", "\u00e9t\u00e9"], "position 0"),
        (["--weights", "int4"], "--weights"),
    ],
)
def test_bad_sample_input_is_one_line(flags, pattern, corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run", "--steps", "2")
    capsys.readouterr()
    code = main(["sample", "--checkpoint", str(tmp_path / "run"), *flags])
    _one_line_error(capsys, code, pattern)


def test_corrupt_checkpoint_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "checkpoint.json").write_text("{not json")
    code = main(["sample", "--checkpoint", str(tmp_path)])
    _one_line_error(capsys, code, "corrupt")


@pytest.mark.slow  # a child process and a signal
def test_ctrl_c_saves_and_exits_zero(corpus, tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tui", "train", "--preset", "tiny", "--data", str(corpus)]
    command += ["--out", str(out), "--steps", "100000", "--eval-interval", "1", "--threads", "1"]
    env = {**os.environ, "COLUMNS": "120"}
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    for line in child.stderr:
        if "val loss" in line:
            break
    child.send_signal(signal.SIGINT)
    rest = child.stderr.read()
    assert child.wait(timeout=60) == 0
    assert f"minigpt train --resume {out} --data {corpus}" in rest.splitlines()
    assert load_checkpoint(out).step >= 1


def test_weights_only_checkpoint_samples_but_cannot_resume(corpus, tmp_path, capsys) -> None:
    assert _train(corpus, tmp_path / "run", "--steps", "3", "--weights-only") == 0
    assert load_checkpoint(tmp_path / "run").optimizer_state is None
    assert main(["sample", "--checkpoint", str(tmp_path / "run"), "--max-new-tokens", "5"]) == 0
    capsys.readouterr()
    code = main(["train", "--data", str(corpus), "--resume", str(tmp_path / "run")])
    _one_line_error(capsys, code, "weights only")


def test_chat_streams_replies_and_takes_commands(corpus, tmp_path, capsys, monkeypatch) -> None:
    import io

    _train(corpus, tmp_path / "run", "--steps", "3")
    capsys.readouterr()
    lines = "/temp 0.5\n/topk 0\nAll:\n/reset\n/quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    args = ["chat", "--checkpoint", str(tmp_path / "run"), "--max-new-tokens", "20"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[temperature = 0.5]" in out
    assert "error: top_k must be an integer >= 1" in out
    assert "tok/s" in out and "[conversation reset]" in out


def test_sample_names_its_checkpoint_and_reads_a_typed_newline(corpus, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--data", str(corpus), "--out", str(run)]) == 0
    capsys.readouterr()
    args = ["sample", "--checkpoint", str(run), "--prompt", r"All:\nSpeak", "--threads", "1"]
    assert main([*args, "--max-new-tokens", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("All:\nSpeak")
    assert f"checkpoint {run} (step 40)" in captured.err


def test_watching_a_missing_run_folder_is_one_line(tmp_path, capsys) -> None:
    assert main(["studio", "--watch", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a run folder" in err
