"""`minigpt train --log-to`: TensorBoard and W&B receive every logged step and the config, read
back with each tool's own reader; without the package, one line naming the extra."""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from core import load_checkpoint
from tui.cli import main


def _train(corpus: Path, out: Path, *flags: str) -> int:
    args = ["train", "--preset", "tiny", "--data", str(corpus), "--out", str(out)]
    return main([*args, "--steps", "6", "--eval-interval", "3", *flags])


def _logged_losses(out: Path) -> dict[int, float]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return {row["step"]: row["loss"] for row in map(json.loads, lines)}


def test_tensorboard_events_hold_every_step_and_the_config(corpus, tmp_path) -> None:
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard is not installed (pip install -e '.[tracking]')",
    )
    out = tmp_path / "run"
    assert _train(corpus, out, "--log-to", "tensorboard") == 0
    events = accumulator.EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    losses = {event.step: event.value for event in events.Scalars("train/loss")}
    assert losses == pytest.approx(_logged_losses(out))
    assert [event.step for event in events.Scalars("val/loss")] == [3, 6]
    assert {"train/grad_norm", "train/lr", "train/tokens_per_second"} <= set(
        events.Tags()["scalars"]
    )
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert f"| block_size | {load_checkpoint(out).config.block_size} |" in config


def test_resumed_run_continues_the_tensorboard_curve(corpus, tmp_path) -> None:
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard is not installed (pip install -e '.[tracking]')",
    )
    out = tmp_path / "run"
    assert _train(corpus, out, "--log-to", "tensorboard") == 0
    resume = ["train", "--resume", str(out), "--data", str(corpus), "--steps", "9"]
    assert main([*resume, "--log-to", "tensorboard"]) == 0
    events = accumulator.EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss")]
    assert steps == list(range(1, 10))


def _wandb_records(path: Path) -> list:
    """The protobuf records of a W&B transaction log (.wandb): a 7-byte header, then LevelDB's
    log format, 32 KiB blocks of [crc32, length, type] chunks; `wandb sync` reads the same."""
    from wandb.proto import wandb_internal_pb2

    data, block, position = path.read_bytes(), 1 << 15, 7
    assert data[:4] == b":W&B"
    records, pending = [], b""
    while position + 7 <= len(data):
        left = block - position % block
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if left < 7 or (kind == 0 and length == 0):  # the rest of the block is padding
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or a record's last chunk
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


@pytest.mark.slow  # W&B starts its own service process
def test_wandb_offline_leaves_a_run_folder_wandb_can_sync(corpus, tmp_path, monkeypatch) -> None:
    if importlib.util.find_spec("wandb") is None:
        pytest.skip("wandb is not installed (pip install -e '.[tracking]')")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))  # never the user's
    out = tmp_path / "run"
    assert _train(corpus, out, "--log-to", "wandb") == 0
    (log,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    wandb = Path(sys.executable).with_name("wandb")
    dry_run = subprocess.run(
        [str(wandb), "sync", "--dry-run", str(log.parent)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert dry_run.returncode == 0 and "Would sync 1 run" in dry_run.stdout + dry_run.stderr
    records = _wandb_records(log)
    history = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            # W&B splits a key at its slashes, keeping the parts in nested_key
            items = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            history[items["_step"]] = items["train/loss"]
    assert history == pytest.approx(_logged_losses(out))
    (run,) = [record.run for record in records if record.WhichOneof("record_type") == "run"]
    config = {item.key: item.value_json for item in run.config.update}
    block_size = load_checkpoint(out).config.block_size
    assert json.loads(config["block_size"]) == block_size
    assert run.display_name == "run"


def test_log_to_without_the_package_names_the_extra(corpus, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    code = _train(corpus, tmp_path / "run", "--log-to", "wandb")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install 'minigpt-studio[tracking]'" in err
    assert not (tmp_path / "run").exists()
