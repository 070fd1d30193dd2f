"""Tokenizers behind one interface: characters (the reference design) and byte-level BPE."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Protocol

from core.errors import UserError


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    def to_dict(self) -> dict: ...


class CharTokenizer:
    """One token per distinct character of the corpus, ids in sorted character order."""

    kind = "char"

    def __init__(self, chars: list[str]) -> None:
        if not chars:
            raise ValueError("a character tokenizer needs at least one character")
        self.chars = list(chars)
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        ids = self._ids
        try:
            return [ids[ch] for ch in text]
        except KeyError:
            position = next(i for i, ch in enumerate(text) if ch not in ids)
            raise UserError(
                f"character {text[position]!r} at position {position} is not in the "
                f"vocabulary of {self.vocab_size} characters; remove it or train on a corpus "
                "that contains it"
            ) from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.chars[token_id].encode("utf-8")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


@lru_cache(maxsize=1)
def _byte_for_symbol() -> dict[str, int]:
    """Inverse of byte-level BPE's printable stand-ins for the 256 byte values."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    symbols = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            symbols.append(256 + extra)
            extra += 1
    return {chr(symbol): byte for byte, symbol in zip(printable, symbols, strict=True)}


class BPETokenizer:
    """Byte-level BPE trained on the corpus with the `tokenizers` library; never an unknown."""

    kind = "bpe"

    def __init__(self, serialized: str) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self._serialized = serialized
        try:
            self._tok = HFTokenizer.from_str(serialized)
        except BaseException as error:
            # the library reports a bad description as a plain Exception, and a Rust panic
            # arrives as pyo3's PanicException, a BaseException; anything else is not ours
            if type(error) is not Exception and type(error).__name__ != "PanicException":
                raise
            reason = " ".join(str(error).split())[:200]
            raise UserError(f"the BPE description cannot be read ({reason})") from None
        table = _byte_for_symbol()
        vocab = self._tok.get_vocab()
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise UserError(f"the BPE vocabulary's ids are not 0 to {len(vocab) - 1}, each once")
        self._bytes: list[bytes] = [b""] * len(vocab)
        for symbol, token_id in vocab.items():
            if not all(ch in table for ch in symbol):
                raise UserError(f"BPE token {symbol[:20]!r} is not made of byte-level symbols")
            self._bytes[token_id] = bytes(table[ch] for ch in symbol)

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        chunks, _ = bpe_training_sample(text)
        tok.train_from_iterator(chunks, trainer=trainer)
        return cls(tok.to_str())

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode(self, text: str) -> list[int]:
        try:  # the library raises or panics on text that is not Unicode
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise UserError(
                f"character {text[error.start]!r} at position {error.start} is a lone "
                "surrogate, not a character; remove it"
            ) from None
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "serialized": self._serialized}


BPE_SAMPLE_CHARS = 8_000_000  # BPE learns its merges from at most this many characters: the
# trainer's memory grows with the text, and 8 M characters already see most of a language's pairs
_CHUNK_CHARS = 1 << 16  # pieces handed to the trainer


def bpe_training_sample(text: str) -> tuple[list[str], bool]:
    """Chunks BPE trains on and whether they sample: all text, or BPE_SAMPLE_CHARS spread evenly."""
    limit = BPE_SAMPLE_CHARS
    if len(text) <= limit:
        return _chunks(text), False
    size = min(_CHUNK_CHARS, limit)
    count = limit // size
    stride = (len(text) - size) / max(1, count - 1)
    starts = [round(i * stride) for i in range(count)]
    return [text[start : start + size] for start in starts], True


def _chunks(text: str, size: int = _CHUNK_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def build_tokenizer(kind: str, text: str, bpe_vocab_size: int = 512) -> Tokenizer:
    """Fit a tokenizer of the given kind ("char" or "bpe") to the corpus."""
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "bpe":
        return BPETokenizer.train(text, bpe_vocab_size)
    raise UserError(f"tokenizer must be 'char' or 'bpe', got {kind!r}")


def tokenizer_from_dict(values: dict) -> Tokenizer:
    """Rebuild a tokenizer saved with `to_dict`; a malformed description raises UserError."""
    kind = values.get("kind") if isinstance(values, dict) else None
    if kind == "char" and isinstance(values.get("chars"), list):
        chars = values["chars"]
        if not all(isinstance(ch, str) and len(ch) == 1 for ch in chars):
            raise UserError("a character tokenizer's chars must all be one-character strings")
        if len(set(chars)) != len(chars):
            raise UserError("a character tokenizer's chars must be distinct; one repeats")
        if any("\ud800" <= ch <= "\udfff" for ch in chars):
            raise UserError("a character tokenizer's chars hold a lone surrogate, not a character")
        return CharTokenizer(chars)
    if kind == "bpe" and isinstance(values.get("serialized"), str):
        try:  # a readable error here beats the library's
            json.loads(values["serialized"])
        except (ValueError, RecursionError) as error:
            raise UserError(f"the BPE description is not JSON ({error})") from None
        return BPETokenizer(values["serialized"])
    raise UserError(f"unknown or incomplete tokenizer description (kind {kind!r})")


def unescape_prompt(value: str) -> str:
    r"""A prompt typed on one line: the two characters \n stand for a newline (as in the
    studio's prompt field and `minigpt sample --prompt`)."""
    return value.replace("\\n", "\n")
