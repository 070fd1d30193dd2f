"""What a run folder holds besides its checkpoint: the one writer's lock and the metrics log.

The lock is an advisory `fcntl` lock that a killed process drops by itself; the metrics log
is trimmed on resume so that it agrees with the checkpoint the run continues from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

from core.checkpoint import write_atomic
from core.errors import UserError

LOCK_NAME = ".minigpt.lock"


class RunFolderBusy(UserError):
    """Another process is training into the same folder."""


class RunLock:
    """An exclusive lock on `directory/.minigpt.lock`, holding the owner's pid.

    The kernel releases it when the owning process ends, however it ends, so a lock left by a
    killed run never blocks the next one; the file itself stays (it is this project's own).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise RunFolderBusy naming the process that holds it."""
        if self._fd is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusy(
                f"{self.directory} is in use by another training run (pid {owner}); wait for "
                "it to finish, stop it, or choose another folder"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


METRICS_FILE = "metrics.jsonl"


def corpus_fingerprint(text: str) -> dict:
    """What identifies a corpus in a checkpoint: its length and the SHA-256 of its UTF-8."""
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {"characters": len(text), "sha256": digest}


def trim_metrics(path: Path, last_step: int) -> int:
    """Drop the lines of a metrics log past `last_step` (and a torn last line); returns how
    many were dropped. The log then agrees with the checkpoint a run resumes from."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    lines = data.split(b"\n")
    torn = lines.pop() if lines else b""  # after the last newline: empty unless cut mid-write
    kept = [line for line in lines if _logged_step(line) <= last_step]
    dropped = len(lines) - len(kept) + (1 if torn else 0)
    if dropped:
        write_atomic(path, b"".join(line + b"\n" for line in kept))
    return dropped


def _logged_step(line: bytes) -> int:
    """The step of one metrics line; lines that are not this code's keep their place (-1)."""
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return -1
    return step if isinstance(step, int) else -1
