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
from safetensors.torch import save as serialize

from core.checkpoint.manifest import (
    FORMAT,
    MANIFEST,
    MANIFEST_LIMIT,
    VERSION,
    check_manifest,
    is_tensor_file_name,
    read_manifest,
)
from core.checkpoint.safe_files import CheckpointError, read_json_or_none, refuse, shown
from core.checkpoint.tensor_files import read_tensors
from core.config import Config
from core.tokenizer import Tokenizer


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


# the names this code gives its files, and the only ones a save ever removes: its temporary
# files (`write_atomic`, a prefix no other program uses) and the tensor files it names
TEMP_PREFIX = ".minigpt-tmp."
_TEMP_NAME = re.compile(r"^\.minigpt-tmp\..+\.\d+\.[0-9a-f]{8}\.tmp$")
_OWN_TENSOR_NAME = re.compile(r"^(model|state)-\d{8}(-[0-9a-f]{8})?\.safetensors$")
PENDING = ".checkpoint-pending.json"  # names the tensor files of a save under way


def is_own_tensor_file(name: str) -> bool:
    """A tensor file's name as a save gives it: model- or state-STEP[-HEX].safetensors."""
    return _OWN_TENSOR_NAME.match(name) is not None


def is_temp_file(name: str) -> bool:
    """A temporary file's name as `write_atomic` gives it."""
    return _TEMP_NAME.match(name) is not None


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename into place."""
    # a fresh name in the same folder (so the rename is atomic), created with the umask's mode
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
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
        taken = kept | {path.name for path in directory.iterdir()}  # never over a user's file
        model_file = _fresh_name(f"model-{step:08d}", taken)
        state_file = _fresh_name(f"state-{step:08d}", taken)
        # the names this save may leave unreferenced: its own (killed before the manifest is
        # replaced) and the previous save's (killed after): the next save removes them
        pending = [model_file, state_file, *sorted(kept)]
        write_atomic(directory / PENDING, json.dumps(pending).encode())
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
        text = _loadable(manifest, directory, created)
        write_atomic(directory / MANIFEST, text.encode())
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
        if _OWN_TENSOR_NAME.match(name):  # a planted manifest cannot make a save delete a file
            (directory / name).unlink(missing_ok=True)
    (directory / PENDING).unlink(missing_ok=True)
    return directory / MANIFEST


def _loadable(manifest: dict, directory: Path, created: list[Path]) -> str:
    """The manifest as JSON, once the loader's own checks pass on it: a save never replaces a
    good checkpoint with one that would not load back (CheckpointWriteError, nothing replaced)."""
    try:
        text = json.dumps(manifest, indent=1, allow_nan=False)
        check_manifest(json.loads(text), directory, with_state=False)
    except (ValueError, CheckpointError) as error:
        for path in created:
            path.unlink(missing_ok=True)
        raise CheckpointWriteError(
            f"refused to save into {directory}: the checkpoint would not load back "
            f"({str(error).splitlines()[0]}); the previous checkpoint there is intact"
        ) from None
    return text


def _referenced_files(directory: Path) -> set[str]:
    """Tensor files the current manifest names; none when it is not a regular file holding
    JSON (so a FIFO there never blocks a save, nor a link to /dev/zero fills memory)."""
    manifest = read_json_or_none(directory, MANIFEST, MANIFEST_LIMIT)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        return set()
    return {name for name in files.values() if is_tensor_file_name(name)}


def _fresh_name(stem: str, taken: set[str]) -> str:
    """`stem.safetensors`, or a new variant when the current manifest still needs that name."""
    name = f"{stem}.safetensors"
    return name if name not in taken else f"{stem}-{uuid.uuid4().hex[:8]}.safetensors"


def _remove_leftovers(directory: Path, referenced: set[str]) -> None:
    """Remove what a killed save of this code left: its temp files and unreferenced tensors."""
    for path in directory.iterdir():
        if _TEMP_NAME.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    # read as the manifest is: anything but a regular file of JSON names nothing to remove
    pending = read_json_or_none(directory, PENDING, 1 << 16)  # four file names
    if isinstance(pending, list):
        for name in pending:
            if isinstance(name, str) and _OWN_TENSOR_NAME.match(name) and name not in referenced:
                (directory / name).unlink(missing_ok=True)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "_orig_mod", model)


def load_checkpoint(directory: str | Path, with_state: bool = True) -> Checkpoint:
    """Read a checkpoint folder without running any code from it.

    Every field and tensor is checked (types, shapes, memory, checksums) before it is used;
    whatever is wrong raises CheckpointError with one line naming the file.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    contents = check_manifest(manifest, directory, with_state)
    model_state = read_tensors(directory, manifest, "model")
    # no run saves such weights: they were edited, and every prediction from them is NaN
    bad = next((name for name, t in model_state.items() if not torch.isfinite(t).all()), None)
    if bad is not None:
        path = directory / manifest["files"]["model"]
        raise refuse(path, f"holds NaN or infinite values in {shown(bad)}, which no run saves")
    checkpoint = Checkpoint(
        contents.config, contents.tokenizer, contents.step, model_state, path=directory
    )
    checkpoint.extra = contents.extra
    if with_state:
        state = read_tensors(directory, manifest, "state")
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
    model.load_state_dict(checkpoint.model_state)  # names and shapes were checked on loading
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
