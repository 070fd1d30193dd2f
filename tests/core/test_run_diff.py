"""Two runs compared setting by setting: only what differs, config, vocabulary, corpus and steps."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core import PRESETS, TrainingSession, UserError, read_run, settings_diff
from tests.conftest import TEXT

TINY = replace(PRESETS["tiny"], max_steps=2, eval_interval=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three 2-step runs: a baseline, one at another learning rate, one on another corpus."""
    root = tmp_path_factory.mktemp("diff")
    plans = {
        "base": (TINY, TEXT),
        "lr": (replace(TINY, learning_rate=1e-3), TEXT),
        "corpus": (TINY, TEXT.replace("Citizen", "citizen")),
    }
    for name, (config, text) in plans.items():
        session = TrainingSession(config, text, "cpu", root / name)
        session.corpus_name = f"{name}.txt"
        list(session.steps())
    return {name: root / name for name in plans}


def test_diff_lists_only_the_settings_that_differ(runs) -> None:
    diffs = settings_diff(read_run(runs["base"]), read_run(runs["lr"]))
    assert [(d.name, d.left, d.right) for d in diffs] == [
        ("learning_rate", "0.003", "0.001"),
        ("corpus file", "base.txt", "lr.txt"),
    ]


def test_diff_of_a_run_with_itself_is_empty(runs) -> None:
    assert settings_diff(read_run(runs["base"]), read_run(runs["base"])) == []


def test_diff_names_another_corpus_by_its_fingerprint(runs) -> None:
    names = {d.name for d in settings_diff(read_run(runs["base"]), read_run(runs["corpus"]))}
    assert {"corpus sha256", "corpus file"} <= names
    assert "learning_rate" not in names and "corpus characters" not in names


def test_diff_of_a_damaged_run_says_its_settings_are_unknown(runs, tmp_path) -> None:
    shutil.copytree(runs["lr"], tmp_path / "broken")
    (tmp_path / "broken" / "checkpoint.json").write_text("{not json")
    with pytest.raises(UserError, match="settings are unknown"):
        settings_diff(read_run(runs["base"]), read_run(tmp_path / "broken"))
