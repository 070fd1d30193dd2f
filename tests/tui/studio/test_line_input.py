"""Every text field holds a bounded line: a huge paste, or one that arrives as keystrokes, is cut
at the field's limit and said once, never kept whole (100 KB typed in once took about 1 GB)."""

from __future__ import annotations

from types import SimpleNamespace

from textual import events
from textual.app import App
from textual.widgets import Input

from core import SamplingConfig
from tui.studio.screens.base import takes_focus
from tui.studio.screens.sampling_form import FORM_MAX_LENGTH, SamplingForm
from tui.studio.widgets.common.line_input import FIELD_MAX_LENGTH, LINE_MAX_LENGTH
from tui.studio.widgets.common.notice import NoticeLine


async def _focus_each_field(pilot, screen) -> dict[str, int]:
    """Every field shown on the screen, focused in turn: its id and limit."""
    limits = {}
    for field in screen.query(Input):
        if takes_focus(field):
            field.focus()
            await pilot.pause()
            limits[field.id] = field.max_length
    return limits


async def test_every_field_of_every_screen_and_dialog_holds_a_bounded_line(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        limits = {}
        for key in ("f2", "f3", "f4", "f6", "f7"):
            await pilot.press(key)
            limits.update(await _focus_each_field(pilot, tiny_app.screen))
        await pilot.press("f5")
        for view in ("x", "p", "s"):  # the Model screen's views, each with its own fields
            await pilot.press("escape", view)
            limits.update(await _focus_each_field(pilot, tiny_app.screen))
        for dialog in (SamplingForm(SamplingConfig(), 0), "help"):
            tiny_app.push_screen(dialog)
            await pilot.pause()
            limits.update(await _focus_each_field(pilot, tiny_app.screen))
            tiny_app.pop_screen()
        assert {"corpus", "exp-steps", "sz-text", "help-search"} <= set(limits)
        assert limits["prompt"] == limits["chat-input"] == LINE_MAX_LENGTH
        assert limits["set-temperature"] == limits["set-seed"] == FORM_MAX_LENGTH
        assert limits["exp-steps"] == limits["help-search"] == FIELD_MAX_LENGTH
        assert all(0 < limit <= 4096 for limit in limits.values()), limits  # 4096: a path


async def test_typing_past_the_limit_stops_there_and_says_so(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        screen = tiny_app.screen
        field = screen.query_one("#chat-input")
        field.value = "x" * (LINE_MAX_LENGTH - 2)
        field.cursor_position = len(field.value)
        await pilot.press(*"abcdef")
        assert field.value == "x" * (LINE_MAX_LENGTH - 2) + "ab"
        notice = screen.query_one(NoticeLine).message
        assert notice == f"a chat line holds at most {LINE_MAX_LENGTH:,} characters"


async def test_keys_past_a_plain_fields_limit_ring_the_bell_once(tiny_app, monkeypatch):
    rung = []
    monkeypatch.setattr(App, "bell", lambda app: rung.append(app))
    # the studio's clock stands still: every key falls within the same second
    monkeypatch.setattr("tui.studio.app.time", SimpleNamespace(monotonic=lambda: 100.0))
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        steps = tiny_app.screen.query_one("#exp-steps")
        steps.focus()
        await pilot.pause()
        steps.value = "1" * FIELD_MAX_LENGTH
        steps.cursor_position = FIELD_MAX_LENGTH
        await pilot.press(*"1" * 40)
        assert steps.value == "1" * FIELD_MAX_LENGTH
        assert len(rung) == 1


async def test_a_huge_paste_is_cut_to_fit_and_keeps_its_lines(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        screen = tiny_app.screen
        field = screen.query_one("#chat-input")
        await pilot.press(*"say ")
        field.post_message(events.Paste("O Romeo\nRomeo\n" + "y" * 100_000))
        await pilot.pause()
        assert len(field.value) == LINE_MAX_LENGTH
        assert field.value.startswith("say O Romeo Romeo yyy")  # lines joined, not dropped
        notice = screen.query_one(NoticeLine).message
        assert notice.startswith(f"the paste was cut to {LINE_MAX_LENGTH - 4:,} characters")
