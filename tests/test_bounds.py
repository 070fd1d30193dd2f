"""One set of bounds: every value the CLI's flags, the studio's form or a manifest can carry is
accepted by all of them or refused by all of them, because each builds the same Config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core import PRESETS, CheckpointError, Config, TrainingSession, UserError, load_checkpoint
from core.config import FLOAT_BOUNDS, INT_BOUNDS
from tests.conftest import TEXT
from tui.cli import main
from tui.cli.args import MODEL_FLAGS

FLAG_OF = {field: "--" + dest.replace("_", "-") for dest, field in MODEL_FLAGS.items()}
TINY = replace(PRESETS["tiny"], max_steps=2, eval_interval=2)


def _value_at(name: str, value) -> dict:
    """`name` set to `value`, with what it must stay consistent with."""
    changes = {name: value}
    if name == "num_heads":
        changes["embedding_dim"] = value  # one-wide heads: any head count divides the width
    if name == "embedding_dim":
        changes["num_heads"] = 1  # one head divides any width
    return changes


def _edges() -> list[tuple[str, object, bool]]:
    cases = []
    for name, (low, high) in INT_BOUNDS.items():
        cases += [(name, low, True), (name, high, True), (name, low - 1, False)]
        cases.append((name, high + 1, False))
    for name, (low, high, closed) in FLOAT_BOUNDS.items():
        cases += [(name, low, True), (name, high, closed), (name, float("nan"), False)]
        cases += [(name, float("inf"), False), (name, -1.0, False)]
    return cases


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bounds") / "run"
    list(TrainingSession(TINY, TEXT, "cpu", out).steps())
    return out


@pytest.mark.parametrize("name, value, accepted", _edges())
def test_config_and_manifest_agree_at_and_past_every_bound(
    name, value, accepted, saved, tmp_path
) -> None:
    try:
        Config(**{**TINY.__dict__, **_value_at(name, value)})
        config_accepts = True
    except UserError:
        config_accepts = False
    assert config_accepts is accepted
    manifest = json.loads((saved / "checkpoint.json").read_text())
    manifest["config"].update(_value_at(name, value))
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in saved.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "checkpoint.json").write_text(json.dumps(manifest))
    try:
        load_checkpoint(copy)
        refusal = ""
    except CheckpointError as error:
        refusal = str(error)
    if accepted:
        # a manifest can still be refused for other reasons (its tensors have the old shape,
        # the memory it would need), never for this value's bounds
        assert f"{name} must be" not in refusal
    else:
        assert refusal  # the bounds' line, or for NaN and infinity, JSON's own refusal


@pytest.mark.parametrize(
    "name, value, accepted",
    [case for case in _edges() if case[0] in FLAG_OF and case[0] != "num_heads"],
)
def test_the_train_flags_refuse_what_the_config_refuses_before_any_folder(
    name, value, accepted, tmp_path, capsys
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "run"
    flags = ["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out)]
    flags += [FLAG_OF[name], str(value)]
    if accepted:
        try:
            Config(**{**PRESETS["tiny"].__dict__, name: value})
        except UserError:
            pytest.skip("a valid value that is invalid beside the preset's other settings")
        return  # training at the bound is the config test's: here, only refusals
    assert main(flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not out.exists()  # refused before the run folder was made


async def test_the_studio_form_refuses_what_the_config_refuses(tmp_path) -> None:
    from textual.widgets import Input, Select

    from tui.studio.app import StudioApp
    from tui.studio.widgets.train.run_form import FIELDS, RunForm

    on_form = {field.field: field for field in FIELDS if field.field is not None}
    app = StudioApp(preset_name="tiny", corpus_text=TEXT, checkpoints_dir=tmp_path)
    checked = 0
    async with app.run_test(size=(160, 48)) as pilot:
        form = app.train_screen.query_one(RunForm)
        for name, value, _accepted in _edges():
            if name not in on_form:
                continue
            form.fill(PRESETS["tiny"])
            for field, each in _value_at(name, value).items():
                widget = form.query_one(f"#{on_form[field].id}")
                if isinstance(widget, Select):
                    widget.value = each
                else:
                    assert isinstance(widget, Input)
                    widget.value = f"{each}"
            await pilot.pause()
            try:
                form.config()
                form_accepts = True
            except (ValueError, UserError):
                form_accepts = False
            try:
                Config(**{**PRESETS["tiny"].__dict__, **_value_at(name, value)})
                config_accepts = True
            except UserError:
                config_accepts = False
            assert form_accepts is config_accepts, (name, value)
            checked += 1
    assert checked >= 40
