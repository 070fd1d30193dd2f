"""Saving a screen's text: a fresh name every time, nothing overwritten, nothing half written."""

from __future__ import annotations

import errno
import os

import pytest

from tui.studio.saving import candidate_names, save_text


def test_names_count_up_from_the_plain_one():
    names = candidate_names("generated")
    expected = ["generated.txt", "generated-2.txt", "generated-3.txt"]
    assert [next(names) for _ in range(3)] == expected


def test_save_takes_the_first_free_name_and_leaves_existing_files_alone(tmp_path):
    (tmp_path / "chat.txt").write_text("mine")
    (tmp_path / "chat-3.txt").write_text("also mine")
    first = save_text(tmp_path, "chat", "one")
    second = save_text(tmp_path, "chat", "two")
    assert (first.name, second.name) == ("chat-2.txt", "chat-4.txt")
    assert (first.read_text(), second.read_text()) == ("one", "two")
    assert (tmp_path / "chat.txt").read_text() == "mine"
    assert (tmp_path / "chat-3.txt").read_text() == "also mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chat-2.txt", "chat-3.txt", "chat-4.txt", "chat.txt"
    ]  # fmt: skip


def test_saved_file_gets_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_text(tmp_path, "generated", "text")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_full_disk_raises_and_leaves_nothing_behind(tmp_path, monkeypatch):
    def full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("tui.studio.saving.os.fsync", full)
    with pytest.raises(OSError, match="No space left"):
        save_text(tmp_path, "generated", "text")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_gives_back_the_name_it_claimed(tmp_path, monkeypatch):
    def refuse(_source, _target) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("tui.studio.saving.os.replace", refuse)
    with pytest.raises(OSError, match="Read-only"):
        save_text(tmp_path, "generated", "text")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        save_text(tmp_path / "gone", "generated", "text")
