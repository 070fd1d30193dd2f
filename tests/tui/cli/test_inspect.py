"""`minigpt inspect`: the X-ray computations as JSON, from a checkpoint or a shape."""

from __future__ import annotations

import json

from tui.cli import main


def _train(corpus, out) -> None:
    args = ["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out)]
    assert main([*args, "--steps", "2"]) == 0


def test_inspect_attention_json_has_the_four_stages(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run")
    capsys.readouterr()
    args = ["inspect", "attention", "--checkpoint", str(tmp_path / "run"), "--text", "All:"]
    assert main([*args, "--layer", "1", "--head", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"tokens", "scores", "scaled", "masked", "weights"} <= set(report)
    assert report["masked"][0][1:] == [None, None, None]  # -inf travels as null
    assert main([*args, "--mask-fill", "0", "--no-scale", "--json"]) == 0
    leaky = json.loads(capsys.readouterr().out)
    assert leaky["masked"][0][1] == 0.0 and leaky["scaled"] == leaky["scores"]


def test_inspect_probe_and_tape_json(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run")
    capsys.readouterr()
    base = ["--checkpoint", str(tmp_path / "run"), "--text", "First Citizen:", "--json"]
    assert main(["inspect", "probe", "--position", "3", *base]) == 0
    probe = json.loads(capsys.readouterr().out)
    assert probe["max_change"][:3] == [0.0, 0.0, 0.0] and probe["max_change"][3] > 0
    assert main(["inspect", "tape", *base]) == 0
    tape = json.loads(capsys.readouterr().out)
    assert len(tape["targets"]) == len("First Citizen:") - 1


def test_inspect_size_reports_a_shape(corpus, capsys) -> None:
    args = ["inspect", "size", "--preset", "tiny", "--embedding-dim", "48", "--num-heads", "3"]
    assert main([*args, "--data", str(corpus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["embedding_dim"] == 48 and report["parts"][-1][0] == "total"


def test_inspect_probe_past_the_text_is_one_line(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run")
    capsys.readouterr()
    args = ["inspect", "probe", "--checkpoint", str(tmp_path / "run"), "--text", "All"]
    assert main([*args, "--position", "9"]) == 2
    assert "position must be in 0..2" in capsys.readouterr().err
