"""Past runs: listing run folders and races, reading their summaries and telling their state."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core import (
    PRESETS,
    RunLock,
    RunStatus,
    TrainingSession,
    checkpoint_problem,
    choose_checkpoint,
    list_runs,
    looks_trained,
    new_run_folder,
    preset_name,
    read_curves,
    read_run,
    resume_refusal,
)
from core.checkpoint import run_folder
from core.experiments import race, results_to_dict, save_race
from tests.conftest import TEXT

TINY = replace(PRESETS["tiny"], max_steps=6, eval_interval=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A finished tiny run (6 of 6 steps) and one stopped at step 4 of 10, trained once."""
    root = tmp_path_factory.mktemp("runs")
    finished = root / "finished"
    list(TrainingSession(TINY, TEXT, "cpu", finished).steps())
    stopped = root / "stopped"
    session = TrainingSession(replace(TINY, max_steps=10), TEXT, "cpu", stopped)
    for metrics in session.steps():
        if metrics.step == 4:
            session.stop()
    return {"finished": finished, "stopped": stopped}


@pytest.fixture
def root(tmp_path, trained) -> Path:
    """A checkpoints folder holding copies of both runs, the stopped one the newest."""
    folder = tmp_path / "checkpoints"
    for name, path in trained.items():
        shutil.copytree(path, folder / name)
    os.utime(folder / "finished", (1_000_000, 1_000_000))
    for path in (folder / "finished").iterdir():
        os.utime(path, (1_000_000, 1_000_000))
    return folder


def test_finished_run_reads_its_steps_losses_and_shape(root) -> None:
    summary = read_run(root / "finished")
    assert summary.status is RunStatus.FINISHED and summary.state_text == "finished"
    assert (summary.step, summary.max_steps) == (6, 6)
    assert summary.config.num_layers == TINY.num_layers and preset_name(summary.config) == "tiny"
    assert summary.train_loss is not None and summary.best_val_loss is not None
    assert summary.tokens_seen == 6 * TINY.batch_size * TINY.block_size


def test_run_stopped_early_reads_as_stopped_at_its_checkpoint_step(root) -> None:
    summary = read_run(root / "stopped")
    assert summary.status is RunStatus.STOPPED
    assert summary.state_text == "stopped at step 4" and summary.max_steps == 10
    assert resume_refusal(summary) is None


def test_damaged_manifest_reads_as_damaged_with_one_line_reason(root) -> None:
    (root / "stopped" / "checkpoint.json").write_text("{not json")
    summary = read_run(root / "stopped")
    assert summary.status is RunStatus.DAMAGED
    assert "checkpoint.json" in summary.problem and "\n" not in summary.problem
    assert "cannot be resumed" in resume_refusal(summary)


def test_missing_tensor_file_reads_as_damaged(root) -> None:
    for path in (root / "finished").glob("model-*.safetensors"):
        path.unlink()
    summary = read_run(root / "finished")
    assert summary.status is RunStatus.DAMAGED and "is missing" in summary.problem


def test_locked_run_reads_as_running_by_the_lock_owner(root) -> None:
    with RunLock(root / "stopped"):
        summary = read_run(root / "stopped")
    assert summary.status is RunStatus.RUNNING and summary.owner_pid == os.getpid()
    assert summary.state_text == f"running (locked by pid {os.getpid()})"
    assert "being trained" in resume_refusal(summary)


def test_lock_left_by_an_ended_process_does_not_read_as_running(root) -> None:
    (root / "stopped" / ".minigpt.lock").write_text("999999\n")
    assert read_run(root / "stopped").status is RunStatus.STOPPED


def test_finished_run_refusal_names_the_command_that_trains_it_further(root) -> None:
    refusal = resume_refusal(read_run(root / "finished"))
    assert "finished all 6 steps" in refusal and "--resume" in refusal and "--steps 12" in refusal


def test_list_runs_puts_the_newest_first(root) -> None:
    assert [summary.name for summary in list_runs(root)] == ["stopped", "finished"]


def test_list_runs_groups_a_race_with_its_variants(root) -> None:
    base = replace(PRESETS["tiny"], eval_interval=2)
    *_, results = race(base, TEXT, ["no-scale"], steps=4, evaluations=2, block_steps=2)
    save_race(root / "experiments" / "tiny-race", results_to_dict(results, base, 4))
    experiment = next(s for s in list_runs(root) if s.kind == "experiment")
    assert experiment.name == "tiny-race" and experiment.status is RunStatus.FINISHED
    assert [variant.name for variant in experiment.variants] == ["baseline", "no-scale"]
    assert experiment.variants[1].curves.val_steps[-1] == 4
    assert experiment.best_val_loss == min(v.best_val_loss for v in experiment.variants)
    assert "races are not resumed" in resume_refusal(experiment)


def test_race_folder_without_results_reads_as_damaged(root) -> None:
    (root / "experiments" / "killed").mkdir(parents=True)
    experiment = next(s for s in list_runs(root) if s.kind == "experiment")
    assert experiment.status is RunStatus.DAMAGED and "race.json" in experiment.problem


def test_folders_no_run_wrote_are_not_listed(root) -> None:
    (root / "notes").mkdir()
    (root / "README.md").write_text("runs live here")
    assert {summary.name for summary in list_runs(root)} == {"stopped", "finished"}


def test_read_curves_returns_every_logged_step_and_evaluation(root) -> None:
    curves = read_curves(root / "finished")
    assert curves.steps == (1, 2, 3, 4, 5, 6) and curves.val_steps == (3, 6)
    assert len(curves.losses) == 6 and len(curves.val_losses) == 2


def test_read_curves_carries_the_training_clock_of_each_step(root) -> None:
    curves = read_curves(root / "finished")
    assert len(curves.elapsed) == len(curves.steps)
    assert all(a <= b for a, b in zip(curves.elapsed, curves.elapsed[1:], strict=False))


def test_run_summary_carries_the_whole_fingerprint_of_its_corpus(root) -> None:
    digest = hashlib.sha256(TEXT.encode("utf-8")).hexdigest()
    assert read_run(root / "finished").corpus_sha256 == digest


def test_checkpoint_problem_says_what_is_wrong_with_a_path(root, tmp_path) -> None:
    assert checkpoint_problem(tmp_path / "nope") == f"no checkpoint at {tmp_path / 'nope'}"
    assert "holds no checkpoint.json" in checkpoint_problem(root)
    assert checkpoint_problem(root / "finished") is None


def test_new_run_folder_never_reuses_a_name_taken_within_the_same_second(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(run_folder.time, "strftime", lambda pattern: "20261201-120000")
    first = new_run_folder(tmp_path, "tiny")
    first.mkdir()
    second = new_run_folder(tmp_path, "tiny")
    assert (first.name, second.name) == ("tiny-20261201-120000", "tiny-20261201-120000-2")
    assert not second.exists()


def _set_logged_loss(folder: Path, loss: float) -> None:
    """Rewrite a run's metrics so every logged loss reads `loss` (its mtime kept)."""
    path = folder / "metrics.jsonl"
    stat = path.stat()
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record["loss"] = loss
        if record.get("val_loss") is not None:
            record["val_loss"] = loss
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (stat.st_atime, stat.st_mtime))


def test_a_run_near_a_uniform_guess_does_not_look_trained(root) -> None:
    vocab = read_run(root / "finished").vocab_size
    _set_logged_loss(root / "finished", 0.9 * math.log(vocab))
    assert not looks_trained(read_run(root / "finished"))
    _set_logged_loss(root / "finished", 0.5 * math.log(vocab))
    assert looks_trained(read_run(root / "finished"))


def test_default_checkpoint_is_the_newest_trained_run(root, tmp_path) -> None:
    vocab = read_run(root / "finished").vocab_size
    _set_logged_loss(root / "finished", 0.5 * math.log(vocab))
    _set_logged_loss(root / "stopped", 0.5 * math.log(vocab))
    choice = choose_checkpoint(root, None)
    assert choice.path == root / "stopped" and "newest trained run" in choice.reason


def test_default_checkpoint_passes_over_a_newer_unfinished_run_and_says_so(root) -> None:
    vocab = read_run(root / "finished").vocab_size
    _set_logged_loss(root / "finished", 0.5 * math.log(vocab))
    _set_logged_loss(root / "stopped", 0.95 * math.log(vocab))
    choice = choose_checkpoint(root, None)
    assert choice.path == root / "finished"
    assert f"passed over {root / 'stopped'}" in choice.reason and "unfinished" in choice.reason


def test_default_checkpoint_is_the_shipped_model_when_no_run_looks_trained(root, tmp_path):
    vocab = read_run(root / "finished").vocab_size
    for name in ("finished", "stopped"):
        _set_logged_loss(root / name, 0.95 * math.log(vocab))
    shipped = tmp_path / "shipped"
    shutil.copytree(root / "finished", shipped)
    choice = choose_checkpoint(root, shipped)
    assert choice.path == shipped and choice.reason.startswith("the shipped model; passed over")
    assert choose_checkpoint(tmp_path / "nothing-here", shipped).reason == (
        f"the shipped model; no run under {tmp_path / 'nothing-here'} yet"
    )
    assert choose_checkpoint(tmp_path / "nothing-here", None).path is None


def test_a_leaking_variant_is_judged_by_its_causal_loss_and_marked(root) -> None:
    base = replace(PRESETS["tiny"], eval_interval=2)
    *_, results = race(base, TEXT, ["mask-zero"], steps=4, evaluations=2, block_steps=2)
    report = results_to_dict(results, base, 4)
    save_race(root / "experiments" / "leak", report)
    experiment = next(s for s in list_runs(root) if s.kind == "experiment")
    baseline, leaky = experiment.variants
    curve = report["variants"][1]["curve"]
    assert leaky.leaks and not baseline.leaks
    assert leaky.best_val_loss == min(point["causal_val_loss"] for point in curve)
    assert leaky.best_val_loss != min(point["val_loss"] for point in curve)
