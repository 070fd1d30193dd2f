"""The window's edge: in Generate and Chat, the text that slid out of the context window is
struck through, exactly the characters the session no longer reads."""

from __future__ import annotations

from tui.studio.screens.chat import ChatScreen
from tui.studio.screens.generate import GenerateScreen
from tui.studio.widgets.common.token_text import TokenText


async def test_generate_strikes_through_what_left_the_window(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        screen = tiny_app.screen
        assert isinstance(screen, GenerateScreen)
        await wait_until(pilot, lambda: screen.ready and screen.runner.idle)
        assert screen.outside == 0
        block = screen.info.block_size
        for _ in range(block + 4):  # past the block: the window slides
            await pilot.press("space")
            await wait_until(pilot, lambda: screen.runner.idle)
        await pilot.pause()
        gone = screen.runner.session.outside_window
        assert gone and screen.outside == len(gone)
        shown = screen.query_one(TokenText).outside_shown
        assert shown.replace("↵\n", "\n") == gone
        status = str(screen.query_one("#gen-status").render())
        assert f"{len(gone)} chars out of reach" in status


async def test_chat_strikes_through_what_left_the_window(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        screen = tiny_app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.info is not None)
        for line in ("Romeo, Romeo", "wherefore art thou"):
            screen.query_one("#chat-input").value = line
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.replying and screen.runner.idle)
        await pilot.pause()
        gone = screen.runner.session.outside_window
        exchanges = screen.conversation.exchanges
        assert gone, "two lines and replies overflow the tiny model's window"
        whole = "".join(f"{e.line}\n{e.text}" for e in exchanges)
        assert whole.startswith(gone)
        assert sum(e.outside for e in exchanges) == len(gone)
        assert exchanges[0].outside > 0
