"""A screen's text saved to a file of its own: a fresh name, never over an existing file, and
never seen half written."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path


def candidate_names(stem: str, suffix: str = ".txt"):
    """generated.txt, generated-2.txt, generated-3.txt, ..."""
    yield f"{stem}{suffix}"
    for number in itertools.count(2):
        yield f"{stem}-{number}{suffix}"


def save_text(folder: Path, stem: str, text: str) -> Path:
    """Write `text` into `folder` under the first free name of `candidate_names(stem)`; returns
    the file's path.

    The text is written to a hidden temporary file and flushed to disk first, so a full disk
    fails before any name is taken; a free name is then claimed with O_EXCL (no existing file is
    ever replaced) and the whole text put there in one rename. Raises OSError (a full disk, a
    read-only or vanished folder) and leaves nothing behind.
    """
    descriptor, temporary = tempfile.mkstemp(prefix=f".{stem}-", suffix=".part", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        for name in candidate_names(stem):
            path = folder / name
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            except FileExistsError:
                continue
            try:
                # the claimed file has the mode the user's umask gives, mkstemp's is 0600
                os.chmod(temporary, path.stat().st_mode)
                os.replace(temporary, path)  # over the empty file claimed just now, and no other
            except OSError:
                path.unlink(missing_ok=True)
                raise
            return path
    finally:
        Path(temporary).unlink(missing_ok=True)
    raise AssertionError("candidate_names never ends")
