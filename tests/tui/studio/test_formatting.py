"""How paths and numbers read on the studio's screens."""

from __future__ import annotations

from tui.studio.formatting import format_count, format_path


def test_format_path_reads_relative_to_the_working_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert format_path(tmp_path / "checkpoints" / "run-1") == "checkpoints/run-1"
    assert format_path(tmp_path) == "."


def test_format_count_uses_k_and_m() -> None:
    assert (format_count(12000), format_count(1834560)) == ("12k", "1.83M")
