"""Runs edited as an experiment tracker edits them: renamed, annotated and deleted, touching
only the files this project wrote and nothing while a run trains in the folder."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core import (
    NOTE_FILE,
    PRESETS,
    RunLock,
    RunStatus,
    TrainingSession,
    UserError,
    delete_run,
    list_runs,
    plan_delete,
    read_note,
    read_run,
    rename_run,
    write_note,
)
from core.experiments import race, results_to_dict, save_race
from tests.conftest import TEXT

TINY = replace(PRESETS["tiny"], max_steps=4, eval_interval=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run (4 of 4 steps), trained once."""
    out = tmp_path_factory.mktemp("edits") / "trained"
    list(TrainingSession(TINY, TEXT, "cpu", out).steps())
    return out


@pytest.fixture
def root(tmp_path, trained) -> Path:
    """A checkpoints folder holding a copy of the run as `run`."""
    folder = tmp_path / "checkpoints"
    shutil.copytree(trained, folder / "run")
    return folder


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# --- rename ---------------------------------------------------------------------------------


def test_rename_moves_the_folder_and_the_run_reads_the_same_under_its_new_name(root) -> None:
    before = read_run(root / "run")
    moved = rename_run(before, "baseline-lr3e-3")
    assert moved == root / "baseline-lr3e-3" and not (root / "run").exists()
    after = read_run(moved)
    assert after.status is RunStatus.FINISHED and after.name == "baseline-lr3e-3"
    assert (after.step, after.config) == (before.step, before.config)


def test_rename_refuses_a_name_another_folder_has_and_renames_nothing(root) -> None:
    (root / "taken").mkdir()
    with pytest.raises(UserError, match="already exists; choose another name"):
        rename_run(read_run(root / "run"), "taken")
    assert _files(root) == {"run", "taken"}


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("a/b", "not a plain folder name"),
        ("..", "not a plain folder name"),
        ("../outside", "not a plain folder name"),
        (".hidden", "starts with a dot"),
        ("", "needs a name"),
        (" padded", "starts or ends with a space"),
        ("tab\there", "one line"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_rename_refuses_what_is_not_a_plain_folder_name(root, name, says) -> None:
    with pytest.raises(UserError, match=says):
        rename_run(read_run(root / "run"), name)
    assert _files(root) == {"run"}


def test_rename_refuses_a_run_that_is_training_and_names_its_process(root) -> None:
    summary = read_run(root / "run")
    with RunLock(root / "run"), pytest.raises(UserError, match=f"in use by pid {os.getpid()}"):
        rename_run(summary, "other")
    assert _files(root) == {"run"}


def test_rename_keeps_the_name_races_are_kept_under_for_races(root) -> None:
    with pytest.raises(UserError, match="where races are kept"):
        rename_run(read_run(root / "run"), "experiments")


# --- note -----------------------------------------------------------------------------------


def test_a_note_is_kept_in_the_folder_and_read_with_the_run(root) -> None:
    assert write_note(root / "run", "  lr 3e-3, the baseline  ") == "lr 3e-3, the baseline"
    assert (root / "run" / NOTE_FILE).read_text() == "lr 3e-3, the baseline\n"
    assert read_run(root / "run").note == "lr 3e-3, the baseline"


def test_an_empty_note_removes_the_note_file(root) -> None:
    write_note(root / "run", "first try")
    assert write_note(root / "run", "   ") is None
    assert not (root / "run" / NOTE_FILE).exists() and read_note(root / "run") is None


def test_a_note_of_several_lines_is_refused_and_the_old_one_kept(root) -> None:
    write_note(root / "run", "kept")
    with pytest.raises(UserError, match="one line"):
        write_note(root / "run", "two\nlines")
    assert read_note(root / "run") == "kept"


def test_a_note_is_never_written_through_a_link(root, tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's file\n")
    (root / "run" / NOTE_FILE).symlink_to(outside)
    with pytest.raises(UserError, match="not a regular file"):
        write_note(root / "run", "hello")
    assert outside.read_text() == "the user's file\n"
    assert read_note(root / "run") is None  # nor read through one


def test_a_note_does_not_make_an_old_run_look_new(root) -> None:
    for path in [root / "run", *(root / "run").iterdir()]:
        os.utime(path, (1_000_000, 1_000_000))
    write_note(root / "run", "annotated years later")
    assert read_run(root / "run").modified == 1_000_000


# --- delete ---------------------------------------------------------------------------------


def test_delete_removes_the_runs_files_and_then_its_empty_folder(root) -> None:
    write_note(root / "run", "to go")
    plan = plan_delete(read_run(root / "run"))
    assert plan.keep == () and plan.removes_folder
    assert {"checkpoint.json", "metrics.jsonl", ".minigpt.lock", NOTE_FILE} <= set(plan.remove)
    assert any(name.startswith("model-") for name in plan.remove)
    assert delete_run(plan) == (len(plan.remove), True)
    assert not (root / "run").exists()


def test_delete_keeps_every_file_the_project_did_not_write(root) -> None:
    run = root / "run"
    (run / "notes.md").write_text("mine")
    (run / "data").mkdir()
    (run / "data" / "corpus.txt").write_text("mine too")
    (run / "model-final.safetensors").write_text("not a name a save gives")
    (run / "train.log").symlink_to(run / "notes.md")  # a link, even under one of our names
    plan = plan_delete(read_run(run))
    assert set(plan.keep) == {"notes.md", "data/", "model-final.safetensors", "train.log"}
    removed, folder_gone = delete_run(plan)
    assert not folder_gone and removed == len(plan.remove)
    assert _files(run) == {"notes.md", "data", "model-final.safetensors", "train.log"}
    assert (run / "data" / "corpus.txt").read_text() == "mine too"


def test_delete_leaves_a_file_added_after_the_question_was_asked(root) -> None:
    plan = plan_delete(read_run(root / "run"))
    (root / "run" / "added.txt").write_text("arrived while the question was open")
    assert delete_run(plan)[1] is False
    assert _files(root / "run") == {"added.txt"}


def test_delete_refuses_a_run_that_is_training_and_removes_nothing(root) -> None:
    summary = read_run(root / "run")
    before = _files(root / "run")
    with RunLock(root / "run"), pytest.raises(UserError, match="in use by pid"):
        plan_delete(summary)
    assert _files(root / "run") == before


def test_delete_refuses_while_a_run_takes_the_folder_after_the_question(root) -> None:
    plan = plan_delete(read_run(root / "run"))
    with RunLock(root / "run"), pytest.raises(UserError, match="stop it first"):
        delete_run(plan)
    assert set(plan.remove) <= _files(root / "run")


def test_delete_of_a_race_removes_its_results_and_log_only(root) -> None:
    base = replace(PRESETS["tiny"], eval_interval=2)
    *_, results = race(base, TEXT, ["no-scale"], steps=2, evaluations=1, block_steps=2)
    folder = root / "experiments" / "race"
    save_race(folder, results_to_dict(results, base, 2))
    (folder / "race.log").write_text("log\n")
    (folder / "corpus.txt").write_text("a corpus a user may have put here")
    experiment = next(s for s in list_runs(root) if s.kind == "experiment")
    plan = plan_delete(experiment)
    assert plan.remove == ("race.json", "race.log") and plan.keep == ("corpus.txt",)
    with pytest.raises(UserError, match="select the race's row"):
        plan_delete(experiment.variants[0])
    delete_run(plan)
    assert _files(folder) == {"corpus.txt"}


def test_delete_removes_the_best_checkpoint_the_run_kept_and_keeps_a_users_file_there(
    tmp_path,
) -> None:
    run = tmp_path / "checkpoints" / "kept-best"
    list(TrainingSession(replace(TINY, keep_best=True), TEXT, "cpu", run).steps())
    (run / "best" / "why.txt").write_text("the user's own")
    plan = plan_delete(read_run(run))
    assert "best/checkpoint.json" in plan.remove and plan.keep == ("best/why.txt",)
    assert any(name.startswith("best/model-") for name in plan.remove)
    assert delete_run(plan)[1] is False
    assert [path.relative_to(run).as_posix() for path in run.rglob("*")] == [
        "best",
        "best/why.txt",
    ]
    (run / "best" / "why.txt").unlink()
    assert delete_run(plan_delete(read_run(run))) == (0, True)  # best/ was the run's own
