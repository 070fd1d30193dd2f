"""`minigpt inspect`: the X-ray computations as JSON, from a checkpoint or a shape."""

from __future__ import annotations

import io
import json

import pytest

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


def _uniform_causal_report(count: int) -> dict:
    weights = [[1 / (i + 1) if j <= i else 0.0 for j in range(count)] for i in range(count)]
    return {
        "tokens": [chr(ord("a") + i % 26) for i in range(count)],
        "weights": weights,
        "entropy": [0.0] * count,
        "spread": 1.0,
        "cropped": 0,
    }


def test_attention_table_fits_the_width_and_sums_the_left_out_keys() -> None:
    from rich.console import Console

    from tui.cli.inspect import _attention_table

    console = Console(width=60, record=True, file=io.StringIO())
    console.print(_attention_table(_uniform_causal_report(40), 60, scaled=False))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 60
    assert "unscaled scores (--no-scale)" in lines[0] + lines[1]
    assert any("'earlier' sums" in line for line in lines)
    last = lines[-1].split()  # the last query: the earlier keys' share, then each shown key
    shown = [float(cell) for cell in last[1:-1]]
    assert abs(sum(shown) - 100) <= len(shown)  # whole percents, each rounded


def test_inspect_tape_on_nan_weights_is_refused_in_one_line(corpus, tmp_path, capsys) -> None:
    import hashlib

    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    _train(corpus, run)
    manifest = json.loads((run / "checkpoint.json").read_text())
    model_file = run / manifest["files"]["model"]
    state = load_file(str(model_file))
    state["head.weight"][0, 0] = float("nan")  # an edited file, checksum updated to match
    save_file(state, str(model_file))
    manifest["sha256"][model_file.name] = hashlib.sha256(model_file.read_bytes()).hexdigest()
    (run / "checkpoint.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    args = ["inspect", "tape", "--checkpoint", str(run), "--text", "First Citizen:"]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "NaN or infinite" in error and error.count("\n") == 1


def test_inspect_qkv_knockout_lens_and_embeddings_json(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run")
    capsys.readouterr()
    base = ["--checkpoint", str(tmp_path / "run"), "--text", "First Citizen:", "--json"]
    assert main(["inspect", "qkv", "--head", "1", "--query", "4", *base]) == 0
    qkv = json.loads(capsys.readouterr().out)
    assert len(qkv["keys"]) == len(qkv["weights"]) == 5 and qkv["head"] == 1
    assert qkv["arrived"] == pytest.approx(qkv["heads"][1], abs=1e-6)
    assert main(["inspect", "knockout", "--heads", "0.1,1.0", *base]) == 0
    knocked = json.loads(capsys.readouterr().out)
    rises = [rise for *_, rise in knocked["ranking"]]
    assert rises == sorted(rises, reverse=True)
    assert knocked["knockout"]["heads"] == [[0, 1], [1, 0]]
    assert main(["inspect", "lens", *base]) == 0
    lens = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in lens["layers"]][0] == "embeddings"
    assert main(["inspect", "embeddings", "--token", "C", "--positions", "4", *base]) == 0
    embeddings = json.loads(capsys.readouterr().out)
    assert len(embeddings["positions"]) == 4 and embeddings["token"] == "C"


def test_inspect_knockout_names_a_bad_head_in_one_line(corpus, tmp_path, capsys) -> None:
    _train(corpus, tmp_path / "run")
    capsys.readouterr()
    args = ["inspect", "knockout", "--checkpoint", str(tmp_path / "run"), "--heads", "0-1"]
    assert main([*args, "--text", "First Citizen:"]) == 2
    assert "layer.head pairs" in capsys.readouterr().err
