"""Where the shipped corpus and checkpoints live, for the CLI and the studio."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_corpus() -> Path:
    """The shipped Shakespeare corpus: ./data if present, else the project's."""
    local = Path("data") / "shakespeare_complete.txt"
    return local if local.is_file() else PROJECT_ROOT / "data" / "shakespeare_complete.txt"


def checkpoints_root() -> Path:
    """./checkpoints if the working folder has one, else the project's."""
    local = Path("checkpoints")
    return local if local.is_dir() else PROJECT_ROOT / "checkpoints"


SHIPPED_CHECKPOINT = "shakespeare-char"
