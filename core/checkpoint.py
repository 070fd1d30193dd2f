"""Safe checkpoints: a folder of safetensors files and a JSON manifest, written atomically.

Nothing here unpickles: weights, optimizer moments and RNG states are safetensors, every other
value is JSON. A save writes new, step-numbered tensor files first and replaces the manifest
`checkpoint.json` last, so a process killed at any moment leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as serialize

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


class CheckpointWriteError(CheckpointError):
    """A save failed (disk full, read-only folder, ...); the previous checkpoint is intact."""


class NonFiniteWeights(CheckpointError):
    """The weights hold NaN or infinity; they are never written over a good checkpoint."""


# names of the temporary files this code writes (`write_atomic`), and the `.tmpXXXXXX` names
# safetensors' own save_file used for its temporaries in earlier versions of this project
_TEMP_NAME = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")
_SAFETENSORS_TEMP_NAME = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")
PENDING = ".checkpoint-pending.json"  # names the tensor files of a save under way


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename into place."""
    # a fresh name in the same folder (so the rename is atomic), created with the umask's mode
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
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
    """Save atomically into `directory` (created if needed); returns the manifest's path.

    Only files this code wrote are ever removed: the tensor files the previous manifest (or an
    interrupted save's pending list) names, and temporary files of this code's own patterns.
    Raises NonFiniteWeights before writing anything if a weight is NaN or infinite, and
    CheckpointWriteError (the previous checkpoint intact) if the disk refuses the write.
    """
    directory = Path(directory)
    model_state = {
        k: v.detach().to("cpu", torch.float32).contiguous()
        for k, v in _unwrap(model).state_dict().items()
    }
    bad = next((k for k, v in model_state.items() if not torch.isfinite(v).all()), None)
    if bad is not None:
        raise NonFiniteWeights(f"weight {bad} is not finite at step {step}; nothing was saved")
    state_tensors: dict[str, torch.Tensor] = {}
    optimizer_meta = None
    if optimizer is not None:
        opt_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
        state_tensors.update(opt_tensors)
    for name, value in (rng_state or {}).items():
        state_tensors[f"rng.{name}"] = value
    state_tensors = {k: v.detach().cpu().contiguous() for k, v in state_tensors.items()}

    created: list[Path] = []
    kept = _referenced_files(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(directory, kept)
        model_file = _fresh_name(f"model-{step:08d}", kept)
        state_file = _fresh_name(f"state-{step:08d}", kept)
        write_atomic(directory / PENDING, json.dumps([model_file, state_file]).encode())
        for name, tensors in ((model_file, model_state), (state_file, state_tensors)):
            data = serialize(tensors)
            created.append(directory / name)
            write_atomic(directory / name, data)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "step": step,
            "config": asdict(config),
            "tokenizer": tokenizer.to_dict(),
            "vocab_size": tokenizer.vocab_size,
            "files": {"model": model_file, "state": state_file},
            "sha256": {name: _sha256(directory / name) for name in (model_file, state_file)},
            "optimizer": optimizer_meta,
            "extra": extra or {},
        }
        write_atomic(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
    except OSError as error:
        for path in created:
            path.unlink(missing_ok=True)
        previous = "the previous checkpoint there is intact" if kept else "nothing was saved"
        raise CheckpointWriteError(
            f"cannot save into {directory}: {error.strerror or error}; free space, fix the "
            f"folder's permissions or choose another folder ({previous})"
        ) from None
    # only now are the previous save's tensor files unreferenced
    for name in kept - {model_file, state_file}:
        (directory / name).unlink(missing_ok=True)
    (directory / PENDING).unlink(missing_ok=True)
    return directory / MANIFEST


def _referenced_files(directory: Path) -> set[str]:
    """Tensor files the current manifest names (plain names only; unreadable: none)."""
    try:
        files = json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("files", {})
        return {n for n in files.values() if isinstance(n, str) and _plain_name(n)}
    except (OSError, ValueError, AttributeError):
        return set()


def _plain_name(name: str) -> bool:
    return bool(name) and name == Path(name).name and name not in (".", "..")


def _fresh_name(stem: str, taken: set[str]) -> str:
    """`stem.safetensors`, or a new variant when the current manifest still needs that name."""
    name = f"{stem}.safetensors"
    return name if name not in taken else f"{stem}-{uuid.uuid4().hex[:8]}.safetensors"


def _remove_leftovers(directory: Path, referenced: set[str]) -> None:
    """Remove what a killed save of this code left: its temp files and unreferenced tensors."""
    for path in directory.iterdir():
        if _TEMP_NAME.match(path.name) or _SAFETENSORS_TEMP_NAME.match(path.name):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
    try:
        pending = json.loads((directory / PENDING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(pending, list):
        for name in pending:
            if isinstance(name, str) and _plain_name(name) and name not in referenced:
                (directory / name).unlink(missing_ok=True)


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
