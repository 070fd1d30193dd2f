"""Snapshots of each screen's static layout (no checkpoint, nothing trained: nothing random).

Plain `def` tests: snap_compare runs its own event loop. Update with --snapshot-update only
after reading the report.
"""

from __future__ import annotations

import pytest

from tui.studio.app import StudioApp


@pytest.fixture
def layout_app(studio_corpus, checkpoints_dir) -> StudioApp:
    return StudioApp(preset_name="tiny", corpus_text=studio_corpus, checkpoints_dir=checkpoints_dir)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
def test_train_screen_layout(snap_compare, layout_app, size):
    assert snap_compare(layout_app, terminal_size=size)


@pytest.mark.parametrize("key", ["2", "3", "4"])
def test_generate_chat_and_model_layouts_without_a_checkpoint(snap_compare, layout_app, key):
    assert snap_compare(layout_app, press=[key], terminal_size=(160, 48))


def test_help_screen_layout(snap_compare, layout_app):
    assert snap_compare(layout_app, press=["question_mark"], terminal_size=(100, 30))
