"""The studio shell: screens by key and by the command palette, help, and the first launch."""

from __future__ import annotations

import gc
import shutil
from dataclasses import replace

import pytest
from textual.command import CommandList
from textual.widgets import Static

from tui.studio.app import MODES, StudioApp, exit_summary, initial_weights
from tui.studio.messages import ModelInfo
from tui.studio.screens.help import HelpScreen, help_markdown
from tui.studio.widgets.common.bars import KeyBar
from tui.studio.widgets.common.focus_frame import FOCUS_WITHIN


async def test_number_keys_switch_screens(bare_app):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        for key, mode in (("2", "generate"), ("3", "chat"), ("f5", "model"), ("f2", "train")):
            await pilot.press(key)
            assert bare_app.current_mode == mode


async def test_command_palette_runs_studio_actions(bare_app, wait_until):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p", *"Show Chat")
        commands = bare_app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.option_count > 0)
        await pilot.press("enter")
        await pilot.pause()
        assert bare_app.current_mode == "chat"


async def test_startup_objects_leave_the_collector_until_exit(bare_app):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert gc.get_freeze_count() > 0  # no full collection walks them while training
    assert gc.get_freeze_count() == 0


async def test_help_screen_names_the_ideas_behind_each_panel(bare_app):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(bare_app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(bare_app.screen, HelpScreen)


def test_help_text_covers_the_concepts_the_studio_teaches():
    for concept in (
        "ln(vocab_size)", "clip", "AdamW", "logits", "softmax", "Temperature", "top-k",
        "top-p", "KV cache", "Q [1,H,1,D]", "K,V [1,H,S,D]", "prefill", "causal mask",
        "sqrt(D)", "pre-norm", "residual", "FeedForward", "Embeddings", "character-level",
        "last position's logits", "Batch size",
    ):  # fmt: skip
        assert concept in help_markdown(MODES), concept


def test_help_follows_the_loaded_models_tokenizer_and_ffn_width():
    info = ModelInfo("bpe run", 1, 2, 4, 8, 32, 100, 16, 512, "bpe", 1000)
    text = help_markdown(MODES, info)
    assert "byte-level BPE (512 tokens)" in text and "character-level" not in text
    assert "expanded to 100 with GELU" in text
    wide = help_markdown(MODES, replace(info, tokenizer="char", vocab_size=65, hidden_dim=128))
    assert "character-level (65 characters)" in wide and "expanded to 128 = 4C" in wide


async def test_help_follows_the_weights_a_screen_loaded(tiny_app, wait_until):
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        generate = tiny_app.screen
        await wait_until(pilot, lambda: generate.info is not None)
        await pilot.pause()
        assert tiny_app.help_screen.info == generate.info
        await pilot.press("question_mark")
        shown = tiny_app.screen.query_one("#help-model", Static).content.markup
        assert f"expanded to {generate.info.hidden_dim} = 4C" in shown


def test_first_launch_opens_the_shipped_model_until_a_run_has_trained(
    tmp_path, tiny_checkpoint, monkeypatch
):
    shipped = tmp_path / "shipped" / "shakespeare-char"
    shutil.copytree(tiny_checkpoint, shipped)
    monkeypatch.setattr("tui.studio.app.shipped_checkpoint", lambda: shipped)
    runs = tmp_path / "checkpoints"
    assert initial_weights(None, runs).checkpoint == str(shipped)  # no runs yet
    shutil.copytree(tiny_checkpoint, runs / "smoke")  # 20 tiny steps: barely trained
    assert initial_weights(None, runs).checkpoint == str(shipped)
    assert initial_weights("given", runs).checkpoint == "given"


def test_unknown_preset_is_refused_before_the_app_starts(checkpoints_dir):
    with pytest.raises(ValueError, match="unknown preset"):
        StudioApp(preset_name="huge", checkpoints_dir=checkpoints_dir)


def test_leaving_the_studio_says_where_its_run_is(tiny_checkpoint, tmp_path):
    assert exit_summary(tiny_checkpoint) == (
        f"run {tiny_checkpoint} finished all 20 steps; its checkpoint is in {tiny_checkpoint}"
    )
    assert exit_summary(tmp_path / "never-trained") is None


async def test_help_opens_at_the_screen_in_view_and_searches_as_you_type(bare_app):
    from textual.widgets import Input

    from tui.studio.screens.help import search_markdown

    async with bare_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5", "question_mark")
        await pilot.pause(0.3)
        help_screen = bare_app.screen
        assert isinstance(help_screen, HelpScreen) and help_screen.section == "Experiments"
        assert help_screen.query_one("#help-text").scroll_y > 0  # at its section, not the top
        await pilot.press("slash", *"renames")
        await pilot.pause(0.3)
        shown = help_screen.found
        assert help_screen.query_one("#help-found").display
        assert "renames" in shown and "## Runs" in shown and "## Chat" not in shown
        await pilot.press("escape")  # clears the search
        assert help_screen.query_one("#help-search", Input).value == ""
        await pilot.press("escape")
        assert not isinstance(bare_app.screen, HelpScreen)
    assert "Nothing in this help mentions" in search_markdown("## A\n\nsome text", "zebra")


async def test_experiments_is_built_out_of_view_and_shown_as_built(bare_app, wait_until):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "experiments" in bare_app.mode_screens)
        ahead = bare_app.mode_screens["experiments"]
        await wait_until(pilot, lambda: ahead.is_mounted)
        assert bare_app.current_mode == "train"  # built, not shown
        assert ahead.query_one("#exp-variants").is_mounted
        await pilot.press("f6")
        assert bare_app.screen is ahead
        assert bare_app.screen.focused is ahead.query_one("#exp-variants")
        keys = ahead.query_one(KeyBar)  # drawn on its first showing, though focus stayed put
        await wait_until(pilot, lambda: any("Start race" in item for item in keys.items))


async def test_a_screen_visited_before_its_build_ahead_is_built_once(bare_app, monkeypatch):
    monkeypatch.setattr("tui.studio.app.BUILD_AHEAD_AFTER", 60.0)  # called here instead
    async with bare_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        shown = bare_app.screen
        bare_app.build_ahead()
        await pilot.pause()
        assert bare_app.mode_screens["experiments"] is shown
        assert bare_app.screen is shown and shown.focused is shown.query_one("#exp-variants")


async def test_a_form_frame_lights_while_focus_is_in_it(bare_app, wait_until):
    async with bare_app.run_test(size=(120, 40)) as pilot:
        form = bare_app.screen.query_one("#run-form")
        bare_app.screen.set_focus(form.query_one("#corpus"))
        await wait_until(pilot, lambda: form.has_class(FOCUS_WITHIN))
        await pilot.press("tab")  # to the next field: still inside
        await pilot.pause()
        assert form.has_class(FOCUS_WITHIN)
        bare_app.screen.set_focus(None)
        await wait_until(pilot, lambda: not form.has_class(FOCUS_WITHIN))


async def test_the_build_ahead_waits_while_text_is_selected(tiny_app, wait_until, monkeypatch):
    # a text field mounting on any screen clears the selection on the screen in view
    monkeypatch.setattr("tui.studio.app.BUILD_AHEAD_AFTER", 60.0)  # called here instead
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        screen = tiny_app.screen
        await wait_until(pilot, lambda: screen.info is not None and screen.runner.idle)
        note = screen.query(".turn").first()
        await pilot.mouse_down(note, offset=(0, 0))
        await pilot.pause(0.6)  # the button held, the pointer still: idle, but dragging
        tiny_app.build_ahead()
        await pilot.hover(note, offset=(18, 0))
        await pilot.mouse_up(note, offset=(18, 0))
        await pilot.pause(0.6)
        tiny_app.build_ahead()
        await pilot.pause(0.6)
        assert tiny_app.selected_text() == "This model was trai"
        assert "experiments" not in tiny_app.mode_screens
        screen.clear_selection()
        await wait_until(pilot, lambda: "experiments" in tiny_app.mode_screens)


async def test_quitting_while_a_screen_is_built_ahead_lets_it_finish(bare_app, monkeypatch):
    monkeypatch.setattr("tui.studio.app.BUILD_AHEAD_AFTER", 60.0)  # built here, not by the timer
    for _ in range(3):  # the app closes at once, in the middle of the build
        app = StudioApp(preset_name="tiny", checkpoints_dir=bare_app.checkpoints_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.build_ahead()
            ahead = app.mode_screens["experiments"]
            assert not ahead.is_mounted
        assert ahead.is_mounted  # its mounting came to an end
