"""Safe checkpoints: a folder of safetensors files and a JSON manifest, written atomically.

Nothing here unpickles: weights, optimizer moments and RNG states are safetensors, every other
value is JSON. A save writes new, step-numbered tensor files first and replaces the manifest
`checkpoint.json` last, so a process killed at any moment leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.config import Config
from core.errors import UserError
from core.tokenizer import Tokenizer, tokenizer_from_dict

MANIFEST = "checkpoint.json"
FORMAT = "minigpt-checkpoint"
VERSION = 1


class CheckpointError(UserError):
    """A checkpoint that is missing, damaged or of another kind; the message names the file."""


@dataclass
class Checkpoint:
    """Everything a checkpoint holds, as plain values and CPU tensors."""

    config: Config
    tokenizer: Tokenizer
    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict | None = None
    rng_state: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    path: Path | None = None


def _write_atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename into place."""
    # a fresh name in the same folder (so the rename is atomic), created with the umask's mode
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}
        for group in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    config: Config,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    rng_state: dict[str, torch.Tensor] | None = None,
    extra: dict | None = None,
) -> Path:
    """Save atomically into `directory` (created if needed); returns the manifest's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(".*.tmp"):  # from a save that was killed
        leftover.unlink(missing_ok=True)
    model_state = {
        k: v.detach().to("cpu", torch.float32).contiguous()
        for k, v in _unwrap(model).state_dict().items()
    }
    model_file = f"model-{step:08d}.safetensors"
    _write_atomic(directory / model_file, lambda p: save_file(model_state, str(p)))

    state_tensors: dict[str, torch.Tensor] = {}
    optimizer_meta = None
    if optimizer is not None:
        opt_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
        state_tensors.update(opt_tensors)
    for name, value in (rng_state or {}).items():
        state_tensors[f"rng.{name}"] = value
    state_tensors = {k: v.detach().cpu().contiguous() for k, v in state_tensors.items()}
    state_file = f"state-{step:08d}.safetensors"
    _write_atomic(directory / state_file, lambda p: save_file(state_tensors, str(p)))

    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "config": asdict(config),
        "tokenizer": tokenizer.to_dict(),
        "vocab_size": tokenizer.vocab_size,
        "files": {
            "model": model_file,
            "state": state_file,
        },
        "sha256": {
            model_file: _sha256(directory / model_file),
            state_file: _sha256(directory / state_file),
        },
        "optimizer": optimizer_meta,
        "extra": extra or {},
    }
    manifest_path = directory / MANIFEST
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=1)))
    # only now are older tensor files unreferenced
    for old in directory.glob("*.safetensors"):
        if old.name not in (model_file, state_file):
            old.unlink(missing_ok=True)
    return manifest_path


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "_orig_mod", model)


def _read_manifest(directory: Path) -> dict:
    if not directory.exists():
        raise CheckpointError(f"checkpoint folder {directory} does not exist")
    if not directory.is_dir():
        raise CheckpointError(
            f"{directory} is a file; a checkpoint is a folder holding {MANIFEST} "
            "(made by minigpt train)"
        )
    path = directory / MANIFEST
    if not path.exists():
        raise CheckpointError(
            f"{directory} holds no {MANIFEST}; it is not a MiniGPT checkpoint "
            "(make one with minigpt train --out DIR)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error}); retrain or restore it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a MiniGPT checkpoint manifest")
    if manifest.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has format version {manifest.get('version')}; this MiniGPT reads {VERSION}"
        )
    return manifest


def _load_tensors(directory: Path, manifest: dict, role: str) -> dict[str, torch.Tensor]:
    name = manifest.get("files", {}).get(role)
    if not isinstance(name, str) or "/" in name or "\\" in name:
        raise CheckpointError(f"{directory / MANIFEST} names no valid {role} file")
    path = directory / name
    if not path.exists():
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    expected = manifest.get("sha256", {}).get(name)
    if expected is not None and _sha256(path) != expected:
        raise CheckpointError(f"{path} is corrupt or truncated (checksum mismatch)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a valid safetensors file ({error})") from None


def load_checkpoint(directory: str | Path, with_state: bool = True) -> Checkpoint:
    """Read a checkpoint folder without running any code from it."""
    directory = Path(directory)
    manifest = _read_manifest(directory)
    try:
        config = Config.from_dict(manifest["config"])
        tokenizer = tokenizer_from_dict(manifest["tokenizer"])
        step = int(manifest["step"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{directory / MANIFEST} is incomplete or invalid: {error}") from None
    model_state = _load_tensors(directory, manifest, "model")
    embedding = model_state.get("embeddings.token.weight")
    if embedding is None or embedding.shape[0] != tokenizer.vocab_size:
        raise CheckpointError(
            f"{directory}: the weights do not match the tokenizer's vocabulary of "
            f"{tokenizer.vocab_size}"
        )
    checkpoint = Checkpoint(config, tokenizer, step, model_state, path=directory)
    checkpoint.extra = manifest.get("extra") or {}
    if with_state:
        state = _load_tensors(directory, manifest, "state")
        checkpoint.rng_state = {k[4:]: v for k, v in state.items() if k.startswith("rng.")}
        if manifest.get("optimizer") is not None:
            optimizer_tensors = {k: v for k, v in state.items() if k.startswith("optimizer.")}
            checkpoint.optimizer_state = _unflatten_optimizer(
                optimizer_tensors, manifest["optimizer"]
            )
    return checkpoint


def load_model(
    directory: str | Path, device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, Checkpoint]:
    """A MiniGPT in eval mode with the checkpoint's weights, and the checkpoint itself."""
    from core.model import MiniGPT

    checkpoint = load_checkpoint(directory, with_state=False)
    model = MiniGPT(checkpoint.config, checkpoint.tokenizer.vocab_size)
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{directory}: weights do not fit the model ({first})") from None
    return model.to(device).eval(), checkpoint


def is_checkpoint(directory: str | Path) -> bool:
    return (Path(directory) / MANIFEST).is_file()


def find_latest_checkpoint(root: str | Path = "checkpoints") -> Path | None:
    """The most recently saved checkpoint folder under `root`, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    manifests = [p for p in root.glob(f"*/{MANIFEST}") if p.is_file()]
    if not manifests:
        return None
    return max(manifests, key=lambda p: p.stat().st_mtime).parent
