"""Character and byte-level BPE tokenizers behind one interface."""

from __future__ import annotations

import pytest

from core import BPETokenizer, CharTokenizer, build_tokenizer
from core.tokenizer import tokenizer_from_dict


def test_char_tokenizer_round_trip(text: str) -> None:
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.chars == sorted(set(text))


def test_char_tokenizer_names_unknown_character_and_position() -> None:
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'z' at position 2"):
        tok.encode("abz")


def test_bpe_tokenizer_round_trip_including_unseen_text(text: str) -> None:
    tok = BPETokenizer.train(text, vocab_size=300)
    assert tok.vocab_size <= 300
    for sample in (text[:200], "héllo wörld ✓ unseen"):
        assert tok.decode(tok.encode(sample)) == sample


def test_bpe_merges_make_fewer_tokens_than_characters(text: str) -> None:
    tok = BPETokenizer.train(text, vocab_size=300)
    assert len(tok.encode(text)) < len(text)


def test_bpe_token_bytes_concatenate_to_utf8(text: str) -> None:
    tok = BPETokenizer.train(text, vocab_size=300)
    ids = tok.encode("Speak, ✓")
    assert b"".join(tok.token_bytes(i) for i in ids) == "Speak, ✓".encode()


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizer_survives_to_dict(kind: str, text: str) -> None:
    tok = build_tokenizer(kind, text, 300)
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode(text[:100]) == tok.encode(text[:100])
    assert again.vocab_size == tok.vocab_size


def test_unknown_tokenizer_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="char"):
        build_tokenizer("word", "abc")
