"""Corpus loading and the shifted input/target dataset."""

from __future__ import annotations

import pytest
import torch

from core import TokenDataset, load_corpus, split_ids


def test_dataset_target_is_input_shifted_by_one() -> None:
    data = TokenDataset(torch.arange(20), block_size=4)
    idx, targets = data[3]
    assert idx.tolist() == [3, 4, 5, 6]
    assert targets.tolist() == [4, 5, 6, 7]
    batch_idx, batch_targets = data.batch(5, torch.Generator().manual_seed(0))
    assert batch_idx.shape == batch_targets.shape == (5, 4)
    torch.testing.assert_close(batch_idx[:, 1:], batch_targets[:, :-1])
    torch.testing.assert_close(batch_targets - batch_idx, torch.ones(5, 4, dtype=torch.long))


def test_split_is_deterministic_ninety_ten() -> None:
    train, val = split_ids(list(range(1000)), block_size=8)
    assert train.ids.numel() == 900 and val.ids.numel() == 100
    assert train.ids[-1].item() == 899 and val.ids[0].item() == 900


def test_same_generator_seed_gives_same_batches() -> None:
    data = TokenDataset(torch.arange(100), block_size=8)
    first = data.batch(4, torch.Generator().manual_seed(3))
    second = data.batch(4, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, second)


def test_corpus_shorter_than_a_block_is_refused() -> None:
    with pytest.raises(ValueError, match="block-size"):
        split_ids(list(range(10)), block_size=8)


def test_missing_corpus_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_corpus(tmp_path / "nope.txt")


def test_directory_corpus_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="directory"):
        load_corpus(tmp_path)


def test_empty_corpus_is_refused(tmp_path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(path)


def test_binary_corpus_is_refused(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="binary"):
        load_corpus(path)


def test_non_utf8_corpus_is_refused(tmp_path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        load_corpus(path)
