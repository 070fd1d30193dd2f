"""The Chat screen: a streamed, KV-cached reply that a key can stop."""

from __future__ import annotations

import threading

from tui.studio.screens.chat import MAX_REPLY_TOKENS, ChatScreen
from tui.studio.widgets.common.notice import NoticeLine


async def _open_chat(app, pilot, wait_until) -> ChatScreen:
    await pilot.press("3")
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    await wait_until(pilot, lambda: screen.info is not None)
    return screen


async def test_chat_streams_a_reply_through_the_kv_cache(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        screen.query_one("#chat-input").value = "Romeo"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.replying)
        assert screen.reply_tokens > 0
        assert screen.reply_text
        assert 0 < screen.cache_length <= screen.info.block_size
        shown = str(screen.reply.render())
        assert shown.strip() and shown.strip() in screen.reply_text.strip("\n")
        assert "tok/s" in str(screen.query_one("#chat-status").render())


async def test_escape_stops_a_reply(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        # the tiny model writes a whole reply in milliseconds: hold the runner until esc is in
        gate = threading.Event()
        screen.runner.submit(lambda: gate.wait(10))
        screen.query_one("#chat-input").value = "Romeo"
        await pilot.press("enter")
        assert screen.replying
        await pilot.press("escape", "escape")  # the first leaves the input
        gate.set()
        await wait_until(pilot, lambda: not screen.replying)
        assert screen.reply_tokens < MAX_REPLY_TOKENS
        assert "[stopped]" in str(screen.reply.render())
        screen.query_one("#chat-input").value = "Juliet"
        await pilot.press("i", "enter")  # back in the input, the next line is answered as usual
        await wait_until(pilot, lambda: not screen.replying)
        assert screen.reply_tokens > 0 and "[stopped]" not in str(screen.reply.render())


async def test_chat_temperature_changes_live(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await pilot.press("down", "down", "down")
        await wait_until(pilot, lambda: screen.runner.idle)
        assert screen.temperature == 0.5
        assert screen.runner.session.sampling.temperature == 0.5


async def test_chat_without_a_checkpoint_says_how_to_make_one(bare_app):
    async with bare_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3", "h", "enter")
        assert "minigpt train" in str(bare_app.screen.query_one("#chat-source").render())


async def test_a_refused_line_is_a_notice_and_stays_in_the_input(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        field = screen.query_one("#chat-input")
        field.value = "Romeo~"  # '~' is not in the tiny corpus's vocabulary
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.replying)
        await pilot.pause()
        notice = str(screen.query_one(NoticeLine).render())
        assert "not in the vocabulary" in notice
        assert field.value == "Romeo~"
        await pilot.pause()
        said = " ".join(str(turn.render()) for turn in screen.query(".turn"))
        assert "Romeo~" not in said and "vocabulary" not in said  # the turn was taken back
