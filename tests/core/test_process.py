"""Training in a child process: events out, commands in, snapshots as bytes, clean stops."""

from __future__ import annotations

import hashlib
import queue
import time
from dataclasses import replace

import pytest
import torch

from core import (
    CheckpointSaved,
    RunState,
    StepMetrics,
    TrainingFinished,
    TrainingProcess,
    TrainingStarted,
    TrainingState,
    WeightSnapshot,
    is_checkpoint,
    load_checkpoint,
    session_from_snapshot,
)
from core.child.training_child import CommandThread


def _events_until_finished(process: TrainingProcess, timeout: float = 60) -> list:
    """Every event until the child finishes (a child that dies still ends with a finish)."""
    deadline = time.monotonic() + timeout
    seen: list = []
    while process.finished is None:
        assert time.monotonic() < deadline, "the training child never finished"
        seen.extend(process.poll(0.1))
    return seen


@pytest.fixture
def endless(tmp_path, text, tiny_config):
    """A started training child with far more steps than any test waits for."""
    config = replace(tiny_config, max_steps=1_000_000)
    process = TrainingProcess(config, tmp_path / "run", text=text, threads=1)
    process.start()
    yield process
    process.shutdown(timeout=60)


def _events_until_a_step(process: TrainingProcess) -> list:
    seen: list = []
    while not any(isinstance(e, StepMetrics) for e in seen):
        seen.extend(process.poll(0.1))
        assert process.finished is None, process.finished
    return seen


def test_training_process_relays_every_step_then_finishes(tmp_path, text, tiny_config):
    process = TrainingProcess(tiny_config, tmp_path / "run", text=text, threads=1)
    process.start()
    events = _events_until_finished(process)
    assert process.join(timeout=10)
    assert isinstance(events[0], TrainingStarted)
    steps = [e.step for e in events if isinstance(e, StepMetrics)]
    assert steps == list(range(1, tiny_config.max_steps + 1))
    finished = events[-1]
    assert isinstance(finished, TrainingFinished) and finished.error is None
    assert not finished.stopped and is_checkpoint(finished.checkpoint)
    assert (tmp_path / "run" / "train.log").exists()


def test_training_started_names_the_corpus_by_its_fingerprint(endless, text):
    started = _events_until_a_step(endless)[0]
    assert isinstance(started, TrainingStarted)
    assert started.corpus_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_paused_process_snapshots_saves_and_stops(endless):
    process = endless
    seen = _events_until_a_step(process)
    process.pause()
    process.snapshot()
    process.save()
    process.stop()
    seen.extend(_events_until_finished(process))
    assert process.join(timeout=10)

    assert any(isinstance(e, TrainingState) and e.state is RunState.PAUSED for e in seen)
    snapshot = next(e for e in seen if isinstance(e, WeightSnapshot))
    saved = next(e for e in seen if isinstance(e, CheckpointSaved))
    # paused: the snapshot and the save hold the very same weights
    session = session_from_snapshot(snapshot)
    for name, tensor in load_checkpoint(saved.path).model_state.items():
        torch.testing.assert_close(session.model.state_dict()[name], tensor)
    finished = seen[-1]
    assert isinstance(finished, TrainingFinished) and finished.stopped
    assert finished.step < process.config.max_steps


def test_bad_corpus_path_comes_back_as_an_error(tmp_path, tiny_config):
    process = TrainingProcess(tiny_config, tmp_path / "run", text_path=tmp_path / "missing.txt")
    process.start()
    events = _events_until_finished(process)
    assert process.join(timeout=10)
    assert "does not exist" in events[-1].error


def test_a_killed_child_still_ends_its_events_with_a_finish(endless):
    endless.kill()
    events = _events_until_finished(endless)
    assert endless.join(timeout=10)
    assert "exited with code" in events[-1].error


def test_shutdown_stops_the_child_and_waits_for_its_save(endless):
    _events_until_a_step(endless)
    endless.shutdown(timeout=60)
    assert not endless.alive
    assert endless.finished is not None and endless.finished.stopped
    assert is_checkpoint(endless.finished.checkpoint)


class _FakeSession:
    step = 0
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_orphaned_child_stops_its_session():
    session = _FakeSession()
    control = CommandThread(session, queue.Queue(), queue.Queue(), parent_pid=-1)
    control.run()  # the parent pid never matches: the UI is gone
    assert session.stopped
