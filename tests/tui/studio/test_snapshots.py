"""Snapshots of each screen's static layout (no checkpoint, nothing trained: nothing random).

Plain `def` tests: snap_compare runs its own event loop. Update with --snapshot-update only
after reading the report.
"""

from __future__ import annotations

import pytest

from tui.studio.app import StudioApp


@pytest.fixture
def layout_app(studio_corpus, checkpoints_dir, monkeypatch) -> StudioApp:
    monkeypatch.chdir(checkpoints_dir.parent)  # folders show relative to here: the same each run
    # the form shows the memory this machine has free and its thread count: fixed here
    monkeypatch.setattr("core.checkpoint.manifest.available_memory", lambda: 16 * 10**9)
    return StudioApp(
        preset_name="tiny", corpus_text=studio_corpus, checkpoints_dir=checkpoints_dir, threads=1
    )


SIZES = [(160, 48), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=["160x48", "80x24"])
@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6"])
def test_every_screen_layout_at_both_sizes(snap_compare, layout_app, key, size):
    """Train, Generate, Chat, Model, Experiments and Runs with no checkpoint anywhere."""
    assert snap_compare(layout_app, press=[key], terminal_size=size)


def test_help_screen_layout(snap_compare, layout_app):
    assert snap_compare(layout_app, press=["question_mark"], terminal_size=(100, 30))
