"""Checkpoints: exact resume, atomic saves, and refusal of bad or hostile files."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core import (
    CheckpointError,
    GenerationSession,
    TrainingSession,
    load_checkpoint,
    load_model,
)


def _trained(tiny_config, text, out: Path, steps: int = 6) -> TrainingSession:
    session = TrainingSession(replace(tiny_config, max_steps=steps), text, "cpu", out)
    list(session.steps())
    return session


def test_resume_continues_exactly(tiny_config, text, tmp_path) -> None:
    config = replace(tiny_config, dropout=0.1, max_steps=20, eval_interval=7)
    straight = [e.loss for e in TrainingSession(config, text, "cpu").steps()]

    first = TrainingSession(config, text, "cpu", tmp_path / "run")
    losses = []
    for event in first.steps():
        losses.append(event.loss)
        if event.step == 10:
            first.stop()
    resumed = TrainingSession.from_checkpoint(tmp_path / "run", text, "cpu")
    assert resumed.step == 10
    losses += [e.loss for e in resumed.steps()]
    assert len(losses) == 20
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(straight), atol=1e-6, rtol=0)


def test_checkpoint_round_trips_weights_and_tokenizer(tiny_config, text, tmp_path) -> None:
    session = _trained(tiny_config, text, tmp_path / "run")
    model, checkpoint = load_model(tmp_path / "run")
    torch.testing.assert_close(model.state_dict(), session.model.state_dict())
    assert checkpoint.tokenizer.encode(text[:50]) == session.tokenizer.encode(text[:50])
    assert checkpoint.step == 6 and checkpoint.config == session.config


def test_missing_checkpoint_folder_is_refused(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing")


def test_foreign_folder_is_refused(tmp_path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="not a MiniGPT checkpoint"):
        load_checkpoint(tmp_path)


def test_file_instead_of_folder_is_refused(tmp_path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(path)


def test_corrupt_manifest_is_refused(tiny_config, text, tmp_path) -> None:
    _trained(tiny_config, text, tmp_path / "run")
    (tmp_path / "run" / "checkpoint.json").write_text('{"format": "minigpt-check')
    with pytest.raises(CheckpointError, match="checkpoint.json is corrupt"):
        load_checkpoint(tmp_path / "run")


def test_truncated_weights_are_refused(tiny_config, text, tmp_path) -> None:
    _trained(tiny_config, text, tmp_path / "run")
    weights = next((tmp_path / "run").glob("model-*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=weights.name):
        load_checkpoint(tmp_path / "run")


def _plant_pickle(run: Path, marker: Path, keep_checksum: bool) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    weights = next(run.glob("model-*.safetensors"))
    weights.write_bytes(pickle.dumps(Payload()))
    if not keep_checksum:
        manifest = json.loads((run / "checkpoint.json").read_text())
        manifest["sha256"] = {}
        (run / "checkpoint.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("keep_checksum", [True, False])
def test_pickle_payload_is_refused_without_running(
    tiny_config, text, tmp_path, keep_checksum: bool
) -> None:
    _trained(tiny_config, text, tmp_path / "run")
    marker = tmp_path / "pwned"
    _plant_pickle(tmp_path / "run", marker, keep_checksum)
    with pytest.raises(CheckpointError, match="model-"):
        load_checkpoint(tmp_path / "run")
    with pytest.raises(CheckpointError):
        GenerationSession.from_checkpoint(tmp_path / "run")
    assert not marker.exists()


def test_resume_with_another_vocabulary_is_refused(tiny_config, text, tmp_path) -> None:
    _trained(tiny_config, text, tmp_path / "run")
    with pytest.raises(ValueError, match="vocabulary"):
        TrainingSession.from_checkpoint(tmp_path / "run", text + "\u00e9\u00e8" * 40, "cpu")


SAVER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from core import PRESETS, TrainingSession
    config = replace(PRESETS["tiny"], embedding_dim=128, num_heads=4, num_layers=3)
    session = TrainingSession(config, "abcdefgh ijklmnop\\n" * 200, "cpu", sys.argv[1])
    while True:
        session.step += 1
        session.save()
        print(session.step, flush=True)
    """
)


@pytest.mark.slow
def test_checkpoint_survives_process_killed_mid_save(tmp_path) -> None:
    run = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(run)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    saved = [int(child.stdout.readline()) for _ in range(3)]
    # the child is now inside its fourth save, which rewrites every file of the checkpoint
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    checkpoint = load_checkpoint(run)
    assert checkpoint.step >= saved[-1]
    model, _ = load_model(run)
    assert model.num_parameters() > 0
    resumed = TrainingSession.from_checkpoint(run, "abcdefgh ijklmnop\n" * 200, "cpu")
    resumed.save()
    assert list(run.glob(".*.tmp")) == []


def test_a_save_killed_after_its_manifest_leaves_nothing_the_next_save_keeps(
    tmp_path, monkeypatch
) -> None:
    from core import PRESETS, TrainingSession

    run = tmp_path / "run"
    config = replace(PRESETS["tiny"], max_steps=3)
    session = TrainingSession(config, "abcdefgh ijklmnop\n" * 200, "cpu", run)
    session.step = 1
    session.save()
    real_unlink = Path.unlink

    def killed_on_the_old_files(path: Path, missing_ok: bool = False) -> None:
        if path.name.startswith(("model-00000001", "state-00000001")):
            raise SystemExit("killed between the manifest and the clean-up")
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", killed_on_the_old_files)
    session.step = 2
    with pytest.raises(SystemExit):
        session.save()
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert load_checkpoint(run).step == 2
    assert (run / "model-00000001.safetensors").exists()  # what the kill left
    session.step = 3
    session.save()
    tensors = sorted(path.name for path in run.glob("*.safetensors"))
    assert tensors == ["model-00000003.safetensors", "state-00000003.safetensors"]
