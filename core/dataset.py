"""Corpus loading and the shifted input/target dataset: chunk[:-1] predicts chunk[1:]."""

from __future__ import annotations

from pathlib import Path

import torch

TRAIN_FRACTION = 0.9


def load_corpus(path: str | Path) -> str:
    """Read a UTF-8 text file, or raise ValueError saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"corpus file {path} does not exist; pass --data with a UTF-8 text file")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass --data with a UTF-8 text file inside it")
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"corpus file {path} is empty; give it some text to learn from")
    if b"\x00" in raw[: 1 << 20]:
        raise ValueError(f"{path} looks binary (it contains NUL bytes); use a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text (bad byte at offset {error.start}); convert it to UTF-8"
        ) from None


class TokenDataset:
    """Chunks of `block_size + 1` tokens from one split: input chunk[:-1], target chunk[1:]."""

    def __init__(self, ids: torch.Tensor, block_size: int) -> None:
        if ids.numel() < block_size + 1:
            raise ValueError(
                f"this split has {ids.numel()} tokens, fewer than block_size + 1 = "
                f"{block_size + 1}; use a longer corpus or a smaller --block-size"
            )
        self.ids = ids  # (N,)
        self.block_size = block_size
        self._offsets = torch.arange(block_size + 1)  # (T + 1,)

    def __len__(self) -> int:
        return self.ids.numel() - self.block_size

    def __getitem__(self, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.ids[start : start + self.block_size + 1]  # (T + 1,)
        return chunk[:-1], chunk[1:]  # (T,), (T,)

    def batch(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random chunks, drawn with the given generator: idx and targets, each (B, T)."""
        starts = torch.randint(len(self), (batch_size,), generator=generator)  # (B,)
        chunks = self.ids[starts[:, None] + self._offsets]  # (B, T + 1)
        idx, targets = chunks[:, :-1], chunks[:, 1:]  # (B, T), (B, T)
        if torch.device(device).type != "cpu":
            return idx.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        return idx, targets


def split_ids(ids: list[int], block_size: int) -> tuple[TokenDataset, TokenDataset]:
    """Deterministic 90/10 split: the first 90% trains, the last 10% validates."""
    needed = 2 * (block_size + 1)
    if len(ids) < needed:
        raise ValueError(
            f"the corpus has {len(ids)} tokens; training with block_size {block_size} needs at "
            f"least {needed} (a train and a validation chunk); use a longer corpus or a smaller "
            "--block-size"
        )
    data = torch.tensor(ids, dtype=torch.long)  # (N,)
    cut = int(len(ids) * TRAIN_FRACTION)
    cut = min(max(cut, block_size + 1), len(ids) - (block_size + 1))
    return TokenDataset(data[:cut], block_size), TokenDataset(data[cut:], block_size)
