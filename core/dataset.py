"""Corpus loading and encoding, and the shifted input/target dataset: chunk[:-1] predicts chunk[1:].

A corpus is read and encoded in chunks, reporting progress, into a tensor of the smallest integer
dtype that holds the vocabulary: 100 MB of text becomes 200 MB of int16 rather than 800 MB of
int64 built from a list of 100 M Python ints.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from core.errors import UserError
from core.tokenizer import CharTokenizer, Tokenizer

TRAIN_FRACTION = 0.9
READ_CHUNK_BYTES = 8 << 20  # one progress step; 8 MB reads cost no more than one big read
ENCODE_CHUNK_CHARS = 1 << 18  # a BPE chunk takes about 0.2 s, a character one 1 ms
PROGRESS_SECONDS = 0.2  # least time between two progress calls; the last call always comes

Progress = Callable[[int, int], None]  # (done, total)

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _Reporter:
    """Passes (done, total) on: at the start, at most every PROGRESS_SECONDS, and at the end."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.last = time.monotonic()
        if progress is not None:
            progress(0, total)

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done >= self.total or now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.progress(done, self.total)


def load_corpus(path: str | Path, progress: Progress | None = None) -> str:
    """A UTF-8 text file, read in chunks with progress(bytes_read, total_bytes); else UserError."""
    path = Path(path)
    with _open_regular(path) as file:
        size = os.fstat(file.fileno()).st_size
        raw = _read_all(file, size, _Reporter(progress, size))
    if not raw or raw.isspace():
        raise _empty(path)
    if raw.find(b"\x00", 0, 1 << 20) >= 0:
        raise _binary(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(path, error.start) from None


def check_corpus_file(path: str | Path, block_size: int | None = None) -> int:
    """What `load_corpus` would refuse, found before any run folder or process exists, without
    keeping the text; returns its length in characters. With `block_size`, also too short for
    a character-level run of that block size."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    characters, offset, blank = 0, 0, True
    with _open_regular(path) as file:
        while chunk := file.read(READ_CHUNK_BYTES):
            if offset < 1 << 20 and chunk.find(b"\x00", 0, (1 << 20) - offset) >= 0:
                raise _binary(path)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise _not_utf8(path, offset + error.start) from None
            characters, offset = characters + len(text), offset + len(chunk)
            blank = blank and not text.strip()
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:  # cut in the middle of a character
            raise _not_utf8(path, offset - len(error.object) + error.start) from None
    if blank:
        raise _empty(path)
    needed = 2 * (block_size + 1) if block_size is not None else 0
    if characters < needed:
        raise UserError(
            f"the corpus has {characters} characters; training with block_size {block_size} "
            f"needs at least {needed} (a train and a validation chunk); use a longer corpus or "
            "a smaller block size"
        )
    return characters


def _open_regular(path: Path) -> io.FileIO:
    """The corpus opened for reading: a regular file, never a pipe or device that could block."""
    try:
        info = path.stat()  # stat never opens, so a pipe or a device cannot block here
    except FileNotFoundError:
        raise UserError(
            f"corpus file {path} does not exist; pass --data with a UTF-8 text file"
        ) from None
    except OSError as error:
        raise _unreadable(path, error) from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{path} is a directory; pass --data with a UTF-8 text file inside it")
    _refuse_unless_regular(path, info.st_mode)
    try:
        # O_NONBLOCK: should the path become a pipe after the stat, opening it still returns
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        descriptor = os.open(path, flags)
    except OSError as error:
        raise _unreadable(path, error) from None
    file = open(descriptor, "rb", buffering=0)  # noqa: SIM115 (the caller's with closes it)
    try:
        _refuse_unless_regular(path, os.fstat(file.fileno()).st_mode)
    except UserError:
        file.close()
        raise
    return file


def _empty(path: Path) -> UserError:
    return UserError(f"corpus file {path} is empty; give it some text to learn from")


def _binary(path: Path) -> UserError:
    return UserError(f"{path} looks binary (it contains NUL bytes); use a UTF-8 text file")


def _not_utf8(path: Path, offset: int) -> UserError:
    return UserError(f"{path} is not UTF-8 text (bad byte at offset {offset}); convert it to UTF-8")


def _unreadable(path: Path, error: OSError) -> UserError:
    return UserError(
        f"cannot read corpus file {path} ({error.strerror}); pass --data with a readable UTF-8 "
        "text file"
    )


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    raise UserError(f"{path} is {kind}, not a text file; pass --data with a UTF-8 text file")


def _read_all(file: io.FileIO, size: int, report: _Reporter) -> bytearray:
    """The file's first `size` bytes (fewer if it shrank meanwhile), read in chunks."""
    raw = bytearray(size)
    view = memoryview(raw)
    filled = 0
    while filled < size:
        count = file.readinto(view[filled : filled + READ_CHUNK_BYTES])
        if not count:
            break
        filled += count
        report(filled)
    view.release()
    del raw[filled:]
    return raw


def token_dtype(vocab_size: int) -> torch.dtype:
    """The smallest integer dtype that holds every token id of a vocabulary."""
    return torch.int16 if vocab_size <= 1 << 15 else torch.int32


def encode_corpus(
    tokenizer: Tokenizer, text: str, progress: Progress | None = None
) -> torch.Tensor:
    """`tokenizer.encode(text)` as a tensor (N,) of `token_dtype`, in chunks, progress in chars."""
    report = _Reporter(progress, len(text))
    dtype = token_dtype(tokenizer.vocab_size)
    if isinstance(tokenizer, CharTokenizer) and all(len(ch) == 1 for ch in tokenizer.chars):
        return _encode_characters(tokenizer, text, dtype, report)
    pieces = []
    numpy_dtype = np.int16 if dtype == torch.int16 else np.int32
    for start, end in _piece_bounds(text):
        pieces.append(np.array(tokenizer.encode(text[start:end]), dtype=numpy_dtype))  # (n,)
        report(end)
    if not pieces:
        return torch.empty(0, dtype=dtype)  # (0,)
    return torch.from_numpy(np.concatenate(pieces))  # (N,)


def _encode_characters(
    tokenizer: CharTokenizer, text: str, dtype: torch.dtype, report: _Reporter
) -> torch.Tensor:
    """Character ids through a code-point table: one numpy gather per chunk, no Python ints."""
    numpy_dtype = np.int16 if dtype == torch.int16 else np.int32
    codes = np.array([ord(ch) for ch in tokenizer.chars])  # (V,)
    unknown = int(codes.max()) + 1  # one row past the largest code point marks "not in it"
    table = np.full(unknown + 1, -1, dtype=numpy_dtype)  # (max code point + 2,)
    table[codes] = np.arange(len(codes))
    ids = torch.empty(len(text), dtype=dtype)  # (N,)
    for start in range(0, len(text), ENCODE_CHUNK_CHARS):
        end = min(start + ENCODE_CHUNK_CHARS, len(text))
        # surrogatepass: a lone surrogate is one more character the vocabulary lacks
        raw = text[start:end].encode("utf-32-le", "surrogatepass")
        points = np.frombuffer(raw, dtype=np.uint32)  # (n,)
        chunk = table[np.minimum(points, unknown)]  # (n,)
        if chunk.min() < 0:
            position = start + int(np.argmax(chunk < 0))
            raise UserError(
                f"character {text[position]!r} at position {position} of the corpus is not in "
                f"the vocabulary of {tokenizer.vocab_size} characters; train on a corpus that "
                "contains it"
            )
        ids[start:end] = torch.from_numpy(chunk)
        report(end)
    return ids


def _piece_bounds(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of chunks of about ENCODE_CHUNK_CHARS, cut where BPE cuts anyway.

    Byte-level BPE splits text into words before merging, and a space after a non-space always
    starts a new word that nothing before it can reach: cutting there leaves the ids unchanged.
    A chunk with no such space in its last 64 K characters is cut at its length.
    """
    start = 0
    while start < len(text):
        end = start + ENCODE_CHUNK_CHARS
        if end >= len(text):
            end = len(text)
        else:
            end = _word_start_before(text, max(start + 1, end - (1 << 16)), end) or end
        yield start, end
        start = end


def _word_start_before(text: str, low: int, high: int) -> int | None:
    """The last index in [low, high] of a space that follows a non-space, if any."""
    position = text.rfind(" ", low, high + 1)
    while position >= low and position > 0:
        if not text[position - 1].isspace():
            return position
        position = text.rfind(" ", low, position)
    return None


class TokenDataset:
    """Chunks of `block_size + 1` tokens from one split: input chunk[:-1], target chunk[1:]."""

    def __init__(self, ids: torch.Tensor, block_size: int) -> None:
        if ids.numel() < block_size + 1:
            raise UserError(
                f"this split has {ids.numel()} tokens, fewer than block_size + 1 = "
                f"{block_size + 1}; use a longer corpus or a smaller --block-size"
            )
        self.ids = ids  # (N,), any integer dtype; batches come out as int64
        self.block_size = block_size
        self._offsets = torch.arange(block_size + 1)  # (T + 1,)

    def __len__(self) -> int:
        return self.ids.numel() - self.block_size

    def __getitem__(self, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.ids[start : start + self.block_size + 1].long()  # (T + 1,)
        return chunk[:-1], chunk[1:]  # (T,), (T,)

    def batch(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random chunks, drawn with the given generator: idx and targets, each (B, T)."""
        starts = torch.randint(len(self), (batch_size,), generator=generator)  # (B,)
        chunks = self.ids[starts[:, None] + self._offsets].long()  # (B, T + 1)
        kind = torch.device(device).type
        if kind == "cuda":  # one copy from pinned memory, which the GPU reads while Python goes on
            chunks = chunks.pin_memory().to(device, non_blocking=True)  # (B, T + 1)
        idx, targets = chunks[:, :-1], chunks[:, 1:]  # (B, T), (B, T)
        if kind not in ("cpu", "cuda"):
            return idx.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        return idx, targets


def split_ids(ids: torch.Tensor | list[int], block_size: int) -> tuple[TokenDataset, TokenDataset]:
    """Deterministic 90/10 split of token ids (N,): the first 90% trains, the last 10% validates."""
    data = ids if isinstance(ids, torch.Tensor) else torch.tensor(ids, dtype=torch.long)  # (N,)
    count = data.numel()
    needed = 2 * (block_size + 1)
    if count < needed:
        raise UserError(
            f"the corpus has {count} tokens; training with block_size {block_size} needs at "
            f"least {needed} (a train and a validation chunk); use a longer corpus or a smaller "
            "--block-size"
        )
    cut = int(count * TRAIN_FRACTION)
    cut = min(max(cut, block_size + 1), count - (block_size + 1))
    return TokenDataset(data[:cut], block_size), TokenDataset(data[cut:], block_size)


class ValidationChunks:
    """A corpus's validation split, as training makes it, cut into chunks of block_size + 1
    tokens one after another: chunk `index` is what a validation batch could draw."""

    def __init__(self, tokenizer: Tokenizer, text: str, block_size: int) -> None:
        _, validation = split_ids(encode_corpus(tokenizer, text), block_size)
        self.ids = validation.ids  # (N,)
        self.block_size = block_size

    def __len__(self) -> int:
        return self.ids.numel() // (self.block_size + 1)

    def chunk(self, index: int) -> list[int]:
        """Chunk `index` (taken modulo the count): block_size + 1 token ids, whose first
        block_size are a model input and whose last block_size are its targets."""
        start = (index % len(self)) * (self.block_size + 1)
        return self.ids[start : start + self.block_size + 1].tolist()
