"""ctrl+c copies what is selected, as in a terminal, and quits only when nothing is."""

from __future__ import annotations

from textual.widgets.input import Selection

from tui.studio.widgets.common.notice import NoticeLine
from tui.studio.widgets.common.token_text import TokenText


async def _open(app, pilot, wait_until, key: str):
    await pilot.press(key)
    screen = app.screen
    await wait_until(pilot, lambda: screen.info is not None and screen.runner.idle)
    await pilot.pause()
    return screen


async def test_ctrl_c_copies_text_dragged_over_and_the_studio_stays(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, "3")
        note = screen.query(".turn").first()  # "This model was trained only to continue text"
        await pilot.mouse_down(note, offset=(0, 0))
        await pilot.hover(note, offset=(18, 0))
        await pilot.mouse_up(note, offset=(18, 0))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert tiny_app.is_running
        assert tiny_app.clipboard == "This model was trai"
        assert "copied 19 characters" in screen.query_one(NoticeLine).message


async def test_ctrl_c_copies_the_selection_in_a_field(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, "3")
        field = screen.query_one("#chat-input")
        await pilot.press(*"wherefore art thou")
        field.selection = Selection(0, 9)
        await pilot.press("ctrl+c")
        assert tiny_app.is_running and tiny_app.clipboard == "wherefore"
        assert field.value == "wherefore art thou"  # copied, not cut


async def test_copied_generated_text_is_the_text_without_its_marks(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open(tiny_app, pilot, wait_until, "2")
        newline = screen.runner.session.tokenizer.encode("\n")[0]
        screen.runner.submit(lambda: screen._step(force=newline))  # shown as ↵ on screen
        await pilot.press("space", "space")
        await wait_until(pilot, lambda: len(screen.steps) == 3 and screen.runner.idle)
        await pilot.pause()
        shown = screen.query_one(TokenText)
        assert "↵" in str(shown.render())
        shown.text_select_all()
        await pilot.press("ctrl+c")
        assert tiny_app.is_running and tiny_app.clipboard == screen.text.rstrip("\n")


async def test_ctrl_c_with_nothing_selected_quits(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await _open(tiny_app, pilot, wait_until, "3")
        await pilot.press(*"Romeo", "ctrl+c")  # text in the field, none of it selected
        await pilot.pause()
        assert not tiny_app.is_running
