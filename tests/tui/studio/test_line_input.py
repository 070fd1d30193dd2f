"""Every text field holds a bounded line: a huge paste, or one that arrives as keystrokes, is cut
at the field's limit and said once, never kept whole (100 KB typed in once took about 1 GB)."""

from __future__ import annotations

from types import SimpleNamespace

from textual.app import App
from textual.widgets import Input

from tui.studio.widgets.common.line_input import FIELD_MAX_LENGTH


async def test_a_field_holds_a_bounded_line_once_it_has_focus(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        for selector in ("#corpus", "#steps", "#seed"):
            field = train.query_one(selector, Input)
            field.focus()
            await pilot.pause()
            assert field.max_length == FIELD_MAX_LENGTH, selector


async def test_keys_past_a_plain_fields_limit_ring_the_bell_once(tiny_app, monkeypatch):
    rung = []
    monkeypatch.setattr(App, "bell", lambda app: rung.append(app))
    # the studio's clock stands still: every key falls within the same second
    monkeypatch.setattr("tui.studio.app.time", SimpleNamespace(monotonic=lambda: 100.0))
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        steps = tiny_app.train_screen.query_one("#steps")
        steps.focus()
        await pilot.pause()
        steps.value = "1" * FIELD_MAX_LENGTH
        steps.cursor_position = FIELD_MAX_LENGTH
        await pilot.press(*"1" * 40)
        assert steps.value == "1" * FIELD_MAX_LENGTH
        assert len(rung) == 1
