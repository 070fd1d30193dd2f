"""Reading an untrusted checkpoint's files: only regular files inside its folder, never blocking,
bounded in size, strict JSON; every refusal is one line that names the file."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import BinaryIO

from core.errors import UserError

REMEDY = "restore the checkpoint from a backup or train a new one (minigpt train --out DIR)"
_NO_BLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the stat still never blocks


class CheckpointError(UserError):
    """A checkpoint that is missing, damaged or of another kind; the message names the file."""


# --- messages -------------------------------------------------------------------------------
def refuse(path: Path, problem: str, remedy: str = REMEDY) -> CheckpointError:
    """A CheckpointError reading `{path} {problem}; {remedy}`, on one line."""
    text = f"{path} {problem}; {remedy}"
    return CheckpointError("".join(ch if ch.isprintable() else " " for ch in text))


def shown(value: object) -> str:
    """A value as a message quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def invalid(path: Path, field: str, rule: str, value: object) -> CheckpointError:
    """The refusal of one manifest field: `{field} must be {rule}, got {value}`."""
    return refuse(path, f"is invalid: {field} must be {rule}, got {shown(value)}")


def size_text(count: int) -> str:
    """Bytes as a reader says them: 1.5 GB, 32.0 MB, 12 bytes."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"


# --- values ---------------------------------------------------------------------------------
def is_int(value: object) -> bool:
    """An int, never a bool (JSON's true is not 1 here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite int or float, never a bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value) and abs(value) < 1e300


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    values = dict(pairs)
    if len(values) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {repeated!r} appears twice")
    return values


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _small_int(digits: str) -> int:
    if len(digits) > 40:  # past any count or seed; int() of thousands of digits is refused too
        raise ValueError(f"an integer of {len(digits):,} digits")
    return int(digits)


def load_json(text: str | bytes) -> object:
    """Strict JSON: UTF-8, no repeated keys, no NaN; every failure is a ValueError."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_int=_small_int,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


# --- files ----------------------------------------------------------------------------------
def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_regular(directory: Path, name: str) -> tuple[BinaryIO, int]:
    """`directory/name` opened for reading, and its size: only a regular file inside the folder.

    The file is stat-ed before it is opened, so a FIFO or a device is never opened at all.
    """
    path = directory / name
    try:
        if os.path.islink(path):
            target = Path(os.path.realpath(path, strict=True))
            if not target.is_relative_to(directory.resolve()):
                raise refuse(
                    path,
                    f"links to {target}, outside the checkpoint folder",
                    "copy the file itself into the folder",
                )
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(path, f"is {_kind(info.st_mode)}, not a regular file")
        descriptor = os.open(path, os.O_RDONLY | _NO_BLOCK)
    except FileNotFoundError:
        raise refuse(path, "is missing; the checkpoint is incomplete") from None
    except OSError as error:
        raise refuse(
            path, f"cannot be read ({error.strerror})", "check its permissions or restore it"
        ) from None
    file = os.fdopen(descriptor, "rb")
    opened = os.fstat(descriptor)
    if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
        file.close()
        raise refuse(path, "changed while it was opened", "load it when nothing writes to it")
    return file, opened.st_size


def read_bounded(directory: Path, name: str, limit: int, what: str) -> bytes:
    """The bytes of `directory/name`, opened as `open_regular` opens it, refused above `limit`
    bytes; `what` names the file in that refusal ("a manifest")."""
    file, size = open_regular(directory, name)
    with file:
        data = file.read(limit + 1) if size <= limit else b""  # it may grow after the stat
    if size > limit or len(data) > limit:
        raise refuse(directory / name, f"is larger than {what} may be ({size_text(limit)})")
    return data


def read_json_or_none(directory: Path, name: str, limit: int) -> object | None:
    """`directory/name` as strict JSON, or None when it is missing, not a regular file inside
    the folder, larger than `limit` bytes or not JSON: for files whose loss costs nothing."""
    try:
        return load_json(read_bounded(directory, name, limit, "such a file"))
    except ValueError:  # a CheckpointError is one too
        return None
