"""Reads a checkpoint's safetensors files: each header checked against the tensors its config
implies (names, dtypes, shapes, offsets, checksum) before any tensor is loaded."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from core.checkpoint.manifest import MANIFEST, data_streams, rng_names
from core.checkpoint.model_layout import optimizer_groups, optimizer_states, parameter_shapes
from core.checkpoint.safe_files import is_int, load_json, open_regular, refuse, shown
from core.config import Config

HEADER_LIMIT = 16 << 20  # bytes of a safetensors header (about 100 per tensor)
DTYPES = {"F32": torch.float32, "U8": torch.uint8}


def _state_layout(manifest: dict, config: Config, vocab_size: int) -> dict[str, tuple]:
    """Every tensor a state file may hold, as (dtype, shape)."""
    rng = tuple(torch.get_rng_state().shape)
    layout: dict[str, tuple] = {f"rng.{name}": ("U8", rng) for name in _rng_tensors(manifest)}
    if manifest.get("optimizer") is not None:
        names = optimizer_states(config, {"amsgrad": True})
        shapes = [shape for group in optimizer_groups(config, vocab_size) for shape in group]
        for index, shape in enumerate(shapes):
            for name in names:
                layout[f"optimizer.{index}.{name}"] = ("F32", () if name == "step" else shape)
    return layout


def _rng_tensors(manifest: dict) -> list[str]:
    """Both RNG states of each data stream the manifest's `extra.data_streams` counts."""
    streams = data_streams(manifest.get("extra", {}))
    return [name for rank in range(streams) for name in rng_names(rank)]


def _read_header(file: BinaryIO, size: int, path: Path) -> tuple[dict[str, tuple], int]:
    """A safetensors header as {name: (dtype, shape, begin, end)} and the bytes of data after
    it, read before any tensor is."""
    if size < 8:
        raise refuse(path, f"is truncated ({size} bytes); it is not a safetensors file")
    length = int.from_bytes(file.read(8), "little")
    if length > min(HEADER_LIMIT, size - 8):
        raise refuse(path, f"is not a valid safetensors file (a header of {length:,} bytes)")
    try:
        header = load_json(file.read(length))
    except ValueError as error:
        raise refuse(path, f"is not a valid safetensors file ({error})") from None
    if not isinstance(header, dict):
        raise refuse(path, "is not a valid safetensors file (its header is not a map)")
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise refuse(path, f"is not a valid safetensors file (entry {shown(name)})") from None
        if (
            not isinstance(dtype, str)
            or not isinstance(shape, list)
            or not all(is_int(n) and n >= 0 for n in (*shape, begin, end))
            or begin > end
        ):
            raise refuse(path, f"is not a valid safetensors file (entry {shown(name)})")
        entries[name] = (dtype, tuple(shape), begin, end)
    return entries, size - 8 - length


def _check_layout(entries: dict, layout: dict, data_size: int, path: Path, exact: bool) -> None:
    """Names, dtypes and shapes as the config says, their data exactly filling the file."""
    missing = [name for name in layout if name not in entries] if exact else []
    unexpected = [name for name in entries if name not in layout]
    if missing or unexpected:
        problem = f"lacks {shown(missing[0])}" if missing else f"holds {shown(unexpected[0])}"
        raise refuse(path, f"does not match its manifest's config (it {problem})")
    end = 0
    for name, (dtype, shape, begin, stop) in sorted(entries.items(), key=lambda e: e[1][2]):
        expected_dtype, expected_shape = layout[name]
        if dtype != expected_dtype or shape != expected_shape:
            raise refuse(
                path,
                f"holds {name} as {dtype} {list(shape)}; its config needs "
                f"{expected_dtype} {list(expected_shape)}",
            )
        if begin != end or stop - begin != math.prod(shape) * DTYPES[dtype].itemsize:
            raise refuse(path, f"is not a valid safetensors file (the data of {name})")
        end = stop
    if end != data_size:
        raise refuse(path, f"is truncated or damaged ({data_size:,} bytes of data, not {end:,})")


def _check_state_names(names: list[str], manifest: dict, config: Config, path: Path) -> None:
    """Every stream's RNG states or none; every optimizer state of a parameter, or none."""
    rng = {name for name in names if name.startswith("rng.")}
    expected = {f"rng.{name}" for name in _rng_tensors(manifest)}
    if rng and rng != expected:
        if len(expected) == 2:
            raise refuse(path, f"holds only {sorted(rng)[0]} of the two random-number states")
        missing = sorted(expected - rng)[0]
        raise refuse(path, f"lacks {missing} of its {len(expected)} random-number states")
    optimizer = manifest.get("optimizer")
    if optimizer is None:
        return
    groups = optimizer["param_groups"]
    held: dict[int, list[str]] = {}
    for name in names:
        if name.startswith("optimizer."):
            _, index, state = name.split(".", 2)
            held.setdefault(int(index), []).append(state)
    matrices = len(groups[0]["params"])
    for index, states in held.items():
        needed = sorted(optimizer_states(config, groups[0 if index < matrices else 1]))
        if sorted(states) != needed:
            raise refuse(
                path, f"holds optimizer states {sorted(states)} for parameter {index}, not {needed}"
            )


def read_tensors(directory: Path, manifest: dict, role: str) -> dict[str, torch.Tensor]:
    """The tensors of the manifest's `role` file ("model" or "state"), checked against its
    config before they are loaded. `manifest` has passed `check_manifest`."""
    name = manifest["files"].get(role)
    if name is None:
        raise refuse(directory / MANIFEST, f"names no {role} file")
    config, vocab_size = Config.from_dict(manifest["config"]), manifest["vocab_size"]
    if role == "model":
        layout = {k: ("F32", s) for k, s in parameter_shapes(config, vocab_size).items()}
    else:
        layout = _state_layout(manifest, config, vocab_size)
    path = directory / name
    file, size = open_regular(directory, name)
    with file:
        entries, data_size = _read_header(file, size, path)
        _check_layout(entries, layout, data_size, path, exact=role == "model")
        if role == "state":
            _check_state_names(list(entries), manifest, config, path)
        digest = manifest.get("sha256", {}).get(name)
        if digest is not None and _sha256(file) != digest.lower():
            raise refuse(path, "is corrupt or truncated (checksum mismatch)")
        tensors = _load(file, path)
    loaded = {key: (tensor.dtype, tuple(tensor.shape)) for key, tensor in tensors.items()}
    if loaded != {key: (DTYPES[dtype], shape) for key, (dtype, shape, *_) in entries.items()}:
        raise refuse(path, "changed while it was read", "load it when nothing writes to it")
    for key in tensors:
        if key.startswith("rng."):
            try:
                torch.Generator().set_state(tensors[key])
            except RuntimeError:
                raise refuse(path, f"holds an invalid random-number state ({key})") from None
    return tensors


def _sha256(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _load(file: BinaryIO, path: Path) -> dict[str, torch.Tensor]:
    """Load through the open file where the system names it, so the file checked is the one
    loaded."""
    opened = Path(f"/proc/self/fd/{file.fileno()}")
    try:
        return load_file(str(opened if opened.exists() else path))
    except (SafetensorError, OSError) as error:
        raise refuse(path, f"is not a valid safetensors file ({error})") from None
