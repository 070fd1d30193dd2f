"""Corpora never hang or blow up: odd files are refused unopened, big ones stream in chunks."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import torch

from core import BPETokenizer, CharTokenizer, UserError, dataset, load_corpus, split_ids, tokenizer
from core.dataset import encode_corpus, token_dtype
from core.tokenizer import bpe_training_sample

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\tSpeak,  speak.  \n \n"
    "Second Citizen: 'tis 1,000 o'clock; we'll famish—caf\u00e9 \u2713 \u4e2d\u6587!\n"
) * 6


def _load_within(path: Path, seconds: float = 10.0) -> BaseException | None:
    """load_corpus(path) in a thread; the error it raised, or a failure if it blocked."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            load_corpus(path)
            outcome.append(None)
        except BaseException as error:  # handed back to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():  # blocked opening a pipe: give it a writer so the thread can end
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"load_corpus blocked on {path}")
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_named_pipe_corpus_is_refused_without_blocking(tmp_path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    error = _load_within(path)
    assert isinstance(error, UserError) and "named pipe" in str(error)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_character_device_corpus_is_refused(tmp_path) -> None:
    link = tmp_path / "corpus.txt"
    link.symlink_to("/dev/zero")
    for path in (Path("/dev/zero"), link):
        error = _load_within(path)
        assert isinstance(error, UserError) and "character device" in str(error)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_socket_corpus_is_refused(tmp_path) -> None:
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError:
        pytest.skip("temporary path too long for a Unix socket")
    with server:
        error = _load_within(path)
    assert isinstance(error, UserError) and "socket" in str(error)


@pytest.mark.parametrize(
    "content",
    [b"", b" \n\t ", b"text\x00more", "caf\xe9".encode("latin-1")],
    ids=["empty", "blank", "binary", "latin-1"],
)
def test_bad_corpus_content_is_one_line(tmp_path, content) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(UserError) as caught:
        load_corpus(path)
    assert "\n" not in str(caught.value)


def test_corpus_is_read_in_chunks_with_progress(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dataset, "READ_CHUNK_BYTES", 100)
    monkeypatch.setattr(dataset, "PROGRESS_SECONDS", 0.0)
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    total = path.stat().st_size
    calls: list[tuple[int, int]] = []
    assert load_corpus(path, lambda done, size: calls.append((done, size))) == TEXT
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert len(calls) == 2 + (total - 1) // 100
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_encode_corpus_equals_encode_across_chunks(kind, monkeypatch) -> None:
    monkeypatch.setattr(dataset, "ENCODE_CHUNK_CHARS", 37)  # many cuts, inside words too
    monkeypatch.setattr(dataset, "PROGRESS_SECONDS", 0.0)
    tok = CharTokenizer.from_text(TEXT) if kind == "char" else BPETokenizer.train(TEXT, 300)
    calls: list[tuple[int, int]] = []
    ids = encode_corpus(tok, TEXT, lambda done, total: calls.append((done, total)))
    assert ids.dtype == torch.int16 and ids.dim() == 1
    assert ids.tolist() == tok.encode(TEXT)
    assert calls[0] == (0, len(TEXT)) and calls[-1] == (len(TEXT), len(TEXT))
    assert len(calls) > 10


def test_encode_corpus_names_an_unknown_character() -> None:
    tok = CharTokenizer.from_text("abc ")
    with pytest.raises(UserError, match=r"'z' at position 6"):
        encode_corpus(tok, "abc abz")


def test_token_dtype_is_the_smallest_that_holds_the_vocabulary() -> None:
    assert token_dtype(65) == token_dtype(32768) == torch.int16
    assert token_dtype(32769) == torch.int32


def test_split_of_a_narrow_tensor_gives_int64_batches() -> None:
    train, val = split_ids(torch.arange(1000, dtype=torch.int16), block_size=8)
    assert train.ids.numel() == 900 and val.ids.dtype == torch.int16
    idx, targets = train.batch(4, torch.Generator().manual_seed(0))
    assert idx.dtype == targets.dtype == torch.int64
    torch.testing.assert_close(targets[:, :-1], idx[:, 1:])
    assert train[3][0].dtype == torch.int64


def test_bpe_sample_is_bounded_and_spread_over_the_corpus(monkeypatch) -> None:
    monkeypatch.setattr(tokenizer, "BPE_SAMPLE_CHARS", 1000)
    monkeypatch.setattr(tokenizer, "_CHUNK_CHARS", 100)
    text = "".join(f"line {i}\n" for i in range(2000))
    chunks, sampled = bpe_training_sample(text)
    assert sampled and sum(map(len, chunks)) <= 1000
    assert text.startswith(chunks[0]) and text.endswith(chunks[-1])
    assert bpe_training_sample(text[:900]) == ([text[:900]], False)


def test_bpe_learns_only_from_its_sample(monkeypatch) -> None:
    monkeypatch.setattr(tokenizer, "BPE_SAMPLE_CHARS", 200)
    monkeypatch.setattr(tokenizer, "_CHUNK_CHARS", 100)  # two chunks: the start and the end
    text = "ab " * 100 + "zq " * 3000 + "ab " * 100
    tok = BPETokenizer.train(text, 270)
    learned = {tok.token_bytes(i) for i in range(tok.vocab_size)}
    assert b"ab" in learned and b"zq" not in learned
    assert tok.decode(encode_corpus(tok, text).tolist()) == text


@pytest.mark.parametrize(
    "content",
    [b"", b" \n\t ", b"text\x00more", "caf\xe9".encode("latin-1"), "voil\u00e0".encode()[:-1]],
    ids=["empty", "blank", "binary", "latin-1", "cut-mid-character"],
)
def test_corpus_check_refuses_what_loading_refuses_with_the_same_line(
    tmp_path, content, monkeypatch
) -> None:
    monkeypatch.setattr(dataset, "READ_CHUNK_BYTES", 3)  # bad bytes across chunk edges too
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(UserError) as loading:
        load_corpus(path)
    with pytest.raises(UserError) as checking:
        dataset.check_corpus_file(path)
    assert str(checking.value) == str(loading.value)


def test_corpus_check_counts_characters_and_refuses_a_corpus_too_short(tmp_path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("caf\u00e9 " * 10, encoding="utf-8")
    assert dataset.check_corpus_file(path) == 50
    with pytest.raises(UserError, match="needs at least 66"):
        dataset.check_corpus_file(path, block_size=32)
