"""`minigpt experiment`: a race from the command line, saved, reopened, and bad input refused."""

from __future__ import annotations

import json

from core import RunLock
from tui.cli import main


def test_experiment_races_saves_and_reopens(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "race"
    args = ["experiment", "--data", str(corpus), "--steps", "6", "--variants", "no-mask"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [variant["name"] for variant in report["variants"]]
    assert names == ["baseline", "no-mask"]
    assert {"val_bpc", "causal_val_loss", "curve", "sample"} <= set(report["variants"][1])
    assert main(["experiment", "--open", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["variants"] == report["variants"]


def test_experiment_lists_every_variant_with_its_question(capsys) -> None:
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("mask-zero", "no-scale", "concat-embeddings", "bpe", "wide"):
        assert name in listed


def test_unknown_variant_is_one_line(capsys) -> None:
    assert main(["experiment", "--variants", "mask-zero,nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown variant nope" in err


def test_reopening_a_missing_race_is_one_line(tmp_path, capsys) -> None:
    assert main(["experiment", "--open", str(tmp_path)]) == 2
    assert "not a saved race" in capsys.readouterr().err


def test_a_race_never_overwrites_an_earlier_one_nor_enters_a_locked_folder(
    corpus, tmp_path, capsys
) -> None:
    out = tmp_path / "race"
    out.mkdir()
    (out / "race.json").write_text('{"mine": true}')
    args = ["experiment", "--data", str(corpus), "--steps", "2", "--out", str(out)]
    assert main(args) == 2
    assert "already holds a race" in capsys.readouterr().err
    assert (out / "race.json").read_text() == '{"mine": true}'
    busy = tmp_path / "busy"
    lock = RunLock(busy)
    busy.mkdir()
    lock.acquire()
    try:
        assert main([*args[:-1], str(busy)]) == 2
        assert "pid" in capsys.readouterr().err
    finally:
        lock.release()


TINY_SHAPE = ["--num-layers", "1", "--embedding-dim", "16", "--num-heads", "2"]
TINY_SHAPE += ["--block-size", "8", "--batch-size", "4", "--steps", "4"]


def test_a_scenario_runs_its_arms_over_seeds_and_reports_verdicts(corpus, tmp_path, capsys):
    out = tmp_path / "race"
    args = ["experiment", "--scenario", "sgd", "--data", str(corpus), *TINY_SHAPE]
    assert main([*args, "--seeds", "2", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"] == "sgd" and report["seeds"] == 2
    assert [v["name"] for v in report["variants"]] == ["adam", "sgd", "sgd-tuned"]
    assert report["variants"][2]["settings"]["lr"] == 0.5  # its own rate, not Adam's
    assert report["variants"][0]["settings"]["num_layers"] == 1  # the flag reshaped it
    assert [(v["arm"], v["reference"]) for v in report["verdicts"]] == [
        ("sgd", "sgd-tuned"),
        ("sgd-tuned", "adam"),
    ]
    assert all(len(v["seed_curves"]) == 2 for v in report["variants"])


def test_a_scenario_table_shows_spread_verdicts_and_instruments(corpus, tmp_path, capsys):
    args = ["experiment", "--scenario", "no-scale", "--data", str(corpus), *TINY_SHAPE]
    assert main([*args, "--out", str(tmp_path / "race")]) == 0
    shown = capsys.readouterr().out
    assert " ± " in shown and "no-scale:" in shown
    assert "score spread" in shown and "row entropy" in shown


def test_list_names_every_scenario(capsys) -> None:
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("no-scale", "post-norm", "one-head", "no-position", "sgd"):
        assert name in listed


def test_unknown_scenario_and_bad_shape_are_one_line(capsys) -> None:
    assert main(["experiment", "--scenario", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown scenario 'nope'" in err
    assert main(["experiment", "--embedding-dim", "30", "--num-heads", "4"]) == 2
    assert "divisible by num_heads" in capsys.readouterr().err
