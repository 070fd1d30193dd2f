"""Training in a child process: events out, commands in, snapshots as bytes, clean stops."""

from __future__ import annotations

import queue
from dataclasses import replace

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
from core.child.process import wait_for
from core.child.training_child import CommandThread


def test_training_process_relays_every_step_then_finishes(tmp_path, text, tiny_config):
    process = TrainingProcess(tiny_config, tmp_path / "run", text=text, threads=1)
    process.start()
    events = wait_for(process, timeout=60)
    assert process.join(timeout=10)
    assert isinstance(events[0], TrainingStarted)
    steps = [e.step for e in events if isinstance(e, StepMetrics)]
    assert steps == list(range(1, tiny_config.max_steps + 1))
    finished = events[-1]
    assert isinstance(finished, TrainingFinished) and finished.error is None
    assert not finished.stopped and is_checkpoint(finished.checkpoint)
    assert (tmp_path / "run" / "train.log").exists()


def test_paused_process_snapshots_saves_and_stops(tmp_path, text, tiny_config):
    config = replace(tiny_config, max_steps=1_000_000)
    process = TrainingProcess(config, tmp_path / "run", text=text, threads=1)
    process.start()
    seen: list = []
    while not any(isinstance(e, StepMetrics) for e in seen):
        seen.extend(process.poll(0.1))
        assert process.finished is None, process.finished
    process.pause()
    process.snapshot()
    process.save()
    process.stop()
    seen.extend(wait_for(process, timeout=60))
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
    assert finished.step < config.max_steps


def test_bad_corpus_path_comes_back_as_an_error(tmp_path, tiny_config):
    process = TrainingProcess(tiny_config, tmp_path / "run", text_path=tmp_path / "missing.txt")
    process.start()
    events = wait_for(process, timeout=60)
    assert process.join(timeout=10)
    assert "does not exist" in events[-1].error


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
