"""What a run folder holds besides its checkpoint: the one writer's lock and the metrics log.

The lock is an advisory `fcntl` lock that a killed process drops by itself; the metrics log
is trimmed on resume so that it agrees with the checkpoint the run continues from.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core.checkpoint.manifest import check_manifest, read_manifest
from core.checkpoint.store import Checkpoint, CheckpointWriteError, write_atomic
from core.config import Config
from core.dataset import encode_corpus
from core.errors import UserError
from core.events import StepMetrics

LOCK_NAME = ".minigpt.lock"


def open_run_file(path: Path, flags: int) -> int:
    """A descriptor of one of the run folder's own files, never reached through a symbolic
    link and never a pipe or a device (a run writes only inside its folder, and a FIFO or
    /dev/zero must not hang or flood it); UserError in one line otherwise."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(
                f"{path} is a symbolic link; a run reads and writes only the files inside its "
                "folder: remove the link"
            ) from None
        if error.errno == errno.ENXIO:  # a FIFO with no reader
            raise _not_regular(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(path)
    return fd


def _not_regular(path: Path) -> UserError:
    return UserError(f"{path} is not a regular file; remove it (a run writes only its own files)")


def append_line(path: Path, line: str) -> None:
    """Append one line to a run folder's own text file (command.txt)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    with open(open_run_file(path, flags), "a", encoding="utf-8") as file:
        file.write(line + "\n")


NOTE_FILE = "note.txt"
NOTE_LIMIT = 500  # characters: a few lines of the Runs details


def read_note(directory: str | Path) -> str | None:
    """The run's note, or None when it has none (or its note.txt is not a regular file)."""
    try:
        fd = open_run_file(Path(directory) / NOTE_FILE, os.O_RDONLY)
    except (OSError, UserError):
        return None
    with open(fd, "rb") as file:
        data = file.read(4 * NOTE_LIMIT)  # UTF-8 takes at most 4 bytes a character
    return data.decode("utf-8", "replace").strip()[:NOTE_LIMIT] or None


def write_note(directory: str | Path, text: str) -> str | None:
    """Replace the run's note (atomically; an empty text removes it); returns the note kept.
    UserError in one line for a note of several lines or too long, or a note.txt that is not
    a regular file (a link is never written through)."""
    directory, note = Path(directory), text.strip()
    if len(note) > NOTE_LIMIT:
        raise UserError(
            f"a note holds at most {NOTE_LIMIT} characters, this one has {len(note)}; shorten it"
        )
    if not note.isprintable():
        raise UserError("a note is one line of text: remove its line breaks and tabs")
    if not directory.is_dir():
        raise UserError(f"no run folder at {directory}; refresh the list of runs")
    path = directory / NOTE_FILE
    if os.path.lexists(path) and not (path.is_file() and not path.is_symlink()):
        raise _not_regular(path)
    try:
        if note:
            write_atomic(path, (note + "\n").encode())
        else:
            path.unlink(missing_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot write {path}: {error.strerror or error}; check the folder's permissions"
        ) from None
    return note or None


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
READ_LIMIT = 4 << 20  # bytes of a metrics log read at once (about 15,000 steps)


def corpus_fingerprint(text: str) -> dict:
    """What identifies a corpus in a checkpoint: its length and the SHA-256 of its UTF-8."""
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {"characters": len(text), "sha256": digest}


class CorpusMismatch(UserError):
    """A run resumed on another corpus than the one it was trained on."""


def check_resume_corpus(checkpoint: Checkpoint, text: str, allow_other_corpus: bool) -> None:
    """Refuse to resume on a corpus the checkpoint's vocabulary cannot encode, and (unless
    `allow_other_corpus`) on any other corpus than the one it was trained on."""
    saved_corpus = checkpoint.extra.get("corpus")
    same_corpus = saved_corpus == corpus_fingerprint(text)
    if not same_corpus:  # the corpus it was trained on always fits its vocabulary
        try:
            encode_corpus(checkpoint.tokenizer, text)
        except ValueError as error:
            raise CorpusMismatch(
                f"the corpus does not fit the checkpoint's vocabulary ({error}); resume "
                "with the corpus it was trained on"
            ) from None
    if isinstance(saved_corpus, dict) and not allow_other_corpus and not same_corpus:
        raise CorpusMismatch(
            f"{checkpoint.path} was trained on another corpus ({saved_corpus.get('characters')}"
            f" characters, this one has {len(text)}); resume with that corpus, or allow "
            "the change (minigpt train --allow-other-data)"
        )


def trim_metrics(path: Path, last_step: int) -> int:
    """Drop the lines of a metrics log past `last_step` (and a torn last line); returns how
    many were dropped. The log then agrees with the checkpoint a run resumes from."""
    try:
        fd = open_run_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    with open(fd, "rb") as file:
        data = file.read(os.fstat(fd).st_size)  # what it holds now: never an endless stream
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


class MetricsLog:
    """A run's metrics log, written one line per step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None

    def write(self, metrics: StepMetrics, saved_step: int) -> None:
        """Append one step's line; CheckpointWriteError (naming `saved_step`, the checkpoint
        still intact) if the disk refuses it."""
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # line-buffered: each step is on disk when the next begins, without a reopen
                fd = open_run_file(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                self._file = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self._file.write(json.dumps(asdict(replace(metrics, xray=None))) + "\n")
        except OSError as error:
            raise CheckpointWriteError(
                f"cannot write {self.path}: {error.strerror or error}; free space or choose "
                f"another folder (the checkpoint of step {saved_step} is intact)"
            ) from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class MetricsCursor:
    """How far a reader has read a metrics log: which file (its inode) and how many bytes."""

    inode: int = 0  # 0: nothing read yet
    offset: int = 0


def read_metrics(
    path: str | Path, cursor: MetricsCursor | None = None, limit: int = READ_LIMIT
) -> tuple[list[StepMetrics], MetricsCursor, bool]:
    """The steps a metrics log gained since `cursor`, the cursor after them, and whether the log
    started over: replaced (a resume trims it by writing a shorter copy) or cut below the
    cursor, in which case the steps are the new log's from its first line.

    A torn last line is left for the next read, once its newline is written; lines of another
    shape are skipped; a missing log reads as empty. At most `limit` bytes are read per call.
    """
    cursor = cursor or MetricsCursor()
    try:
        file = open(open_run_file(Path(path), os.O_RDONLY), "rb")  # noqa: SIM115
    except (FileNotFoundError, UserError):  # no log yet, or nothing a run wrote: nothing to read
        return [], cursor, False
    with file:
        info = os.fstat(file.fileno())
        restarted = cursor.inode != 0 and (
            info.st_ino != cursor.inode or info.st_size < cursor.offset
        )
        offset = 0 if restarted else cursor.offset
        file.seek(offset)
        data = file.read(limit)
    complete = data[: data.rfind(b"\n") + 1]  # empty when no newline came yet
    if not complete and len(data) >= limit:  # one line longer than the limit: not ours, skip it
        complete = data
    steps = []
    for line in complete.splitlines():
        try:
            metrics = StepMetrics.from_dict(json.loads(line))
        except ValueError:
            metrics = None
        if metrics is not None:
            steps.append(metrics)
    return steps, MetricsCursor(info.st_ino, offset + len(complete)), restarted


def run_config(directory: str | Path) -> tuple[Config, int] | None:
    """The config and vocabulary size of the checkpoint in a run folder, read from its manifest
    alone (no tensors); None while the folder holds no readable checkpoint."""
    try:
        contents = check_manifest(read_manifest(Path(directory)), Path(directory), False)
    except UserError:
        return None
    return contents.config, contents.tokenizer.vocab_size


def new_run_folder(root: str | Path, prefix: str) -> Path:
    """A folder name under `root` for a new run, PREFIX-YYYYmmdd-HHMMSS, with -2, -3, ...
    when a run started within the same second already has it (the folder is not created)."""
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, count = Path(root) / name, 1
    while folder.exists():
        count += 1
        folder = Path(root) / f"{name}-{count}"
    return folder
