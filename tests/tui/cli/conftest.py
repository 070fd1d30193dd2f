"""CLI fixtures: the inline corpus as a file the commands read."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def corpus(tmp_path, text) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return path
