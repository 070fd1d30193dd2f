"""Tokenizers behind one interface: characters (the reference design) and byte-level BPE."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Protocol


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
            raise ValueError(
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
        self._tok = HFTokenizer.from_str(serialized)
        table = _byte_for_symbol()
        vocab = self._tok.get_vocab()
        self._bytes: list[bytes] = [b""] * len(vocab)
        for symbol, token_id in vocab.items():
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
        tok.train_from_iterator(_chunks(text), trainer=trainer)
        return cls(tok.to_str())

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "serialized": self._serialized}


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def build_tokenizer(kind: str, text: str, bpe_vocab_size: int = 512) -> Tokenizer:
    """Fit a tokenizer of the given kind ("char" or "bpe") to the corpus."""
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "bpe":
        return BPETokenizer.train(text, bpe_vocab_size)
    raise ValueError(f"tokenizer must be 'char' or 'bpe', got {kind!r}")


def tokenizer_from_dict(values: dict) -> Tokenizer:
    """Rebuild a tokenizer saved with `to_dict`."""
    kind = values.get("kind")
    if kind == "char" and isinstance(values.get("chars"), list):
        return CharTokenizer(values["chars"])
    if kind == "bpe" and isinstance(values.get("serialized"), str):
        json.loads(values["serialized"])  # a readable error below beats the library's panic
        return BPETokenizer(values["serialized"])
    raise ValueError(f"unknown or incomplete tokenizer description (kind {kind!r})")
