"""Where the shipped corpus and model live, where runs go, and which checkpoint a command uses
when none is named.

The corpus and the model travel inside the installed package (`tui/shipped/`, package data
mapped from the repository's `data/` and `checkpoints/` at build time); an editable install or a
clone reads those folders directly. Runs always go to `./checkpoints/` of the working folder:
nothing is ever written inside the installed package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from core import CheckpointChoice, choose_checkpoint

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the clone, for an editable install
SHIPPED_CHECKPOINT = "shakespeare-char"
CORPUS_FILE = "shakespeare_complete.txt"
RUNS_FOLDER = Path("checkpoints")  # relative: the working folder's


def _shipped(folder: str) -> Path:
    """One of the shipped folders: the installed package's copy, else the clone's own."""
    packaged = Path(str(files("tui"))) / "shipped" / folder
    return packaged if packaged.is_dir() else SOURCE_ROOT / folder


def default_corpus() -> Path:
    """The shipped Shakespeare corpus."""
    return _shipped("data") / CORPUS_FILE


def shipped_checkpoint() -> Path:
    """The model the project ships (weights only: it samples, it cannot be resumed)."""
    return _shipped("checkpoints") / SHIPPED_CHECKPOINT


def checkpoints_root() -> Path:
    """Where runs go and are looked for: ./checkpoints of the working folder."""
    return RUNS_FOLDER


def default_checkpoint() -> CheckpointChoice:
    """The newest trained run under ./checkpoints, else the shipped model, with the reason."""
    return choose_checkpoint(checkpoints_root(), shipped_checkpoint())
