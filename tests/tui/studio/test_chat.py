"""The Chat screen: a streamed, KV-cached reply that a key can stop."""

from __future__ import annotations

import errno
import os
import threading

from tests.tui.studio.conftest import enter_settings
from tui.studio.screens.chat import MAX_REPLY_TOKENS, ChatScreen
from tui.studio.widgets.common.bars import KeyBar
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


async def test_chat_temperature_changes_live_outside_the_input(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await pilot.press("escape", "down", "down", "down")
        await wait_until(pilot, lambda: screen.runner.idle)
        assert screen.temperature == 0.5
        assert screen.runner.session.sampling.temperature == 0.5
        assert "temperature 0.5" in str(screen.query_one("#chat-source").render())


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


async def _say(screen, pilot, wait_until, line: str) -> None:
    screen.query_one("#chat-input").value = line
    await pilot.press("enter")
    await wait_until(pilot, lambda: not screen.replying and screen.runner.idle)
    await pilot.pause()


def _notice(screen) -> str | None:
    lines = screen.query(NoticeLine)
    return lines.first().message if lines else None


def _context(screen) -> str:
    """The whole conversation the session holds, as text."""
    session = screen.runner.session
    return session.tokenizer.decode(session.ids)


async def test_up_and_down_in_the_input_recall_lines_not_the_temperature(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        field = screen.query_one("#chat-input")
        for line in ("Romeo", "Juliet"):
            await _say(screen, pilot, wait_until, line)
        await pilot.press(*"O swear")
        await pilot.press("up")
        assert field.value == "Juliet" and field.cursor_position == len("Juliet")
        await pilot.press("up", "up", "up")  # past the oldest: it stays there
        assert field.value == "Romeo"
        await pilot.press("down")
        assert field.value == "Juliet"
        await pilot.press("down")
        assert field.value == "O swear"  # the line being typed, kept while browsing
        await pilot.press("down")
        assert field.value == "O swear"
        assert screen.temperature == 0.8 and screen.focused is field
        assert "History" in str(screen.query_one(KeyBar).render())
        assert "Temperature" not in str(screen.query_one(KeyBar).render())


async def test_regenerate_replaces_the_last_reply_in_screen_and_context(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await _say(screen, pilot, wait_until, "Romeo")
        await _say(screen, pilot, wait_until, "Juliet")
        first = _context(screen).removesuffix(screen.reply_text)
        turn = screen.turn
        await pilot.press("ctrl+g")
        assert screen.turn == turn + 1  # a new reply, whose messages are the ones shown
        await wait_until(pilot, lambda: not screen.replying and screen.runner.idle)
        await pilot.pause()
        assert _context(screen) == first + screen.reply_text  # the line once, the new reply
        assert [e.line for e in screen.conversation.exchanges] == ["Romeo", "Juliet"]
        assert len(screen.query(".turn.model")) == 2
        assert screen.runner.session.turns == 2


async def test_edit_last_puts_the_line_back_and_takes_the_turn_back(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await _say(screen, pilot, wait_until, "Romeo")
        before = _context(screen)
        await _say(screen, pilot, wait_until, "Juliet")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: screen.runner.idle)
        field = screen.query_one("#chat-input")
        assert field.value == "Juliet" and screen.focused is field
        assert _context(screen) == before
        assert [e.line for e in screen.conversation.exchanges] == ["Romeo"]
        await pilot.press("backspace", *"tte", "enter")
        await wait_until(pilot, lambda: not screen.replying and screen.runner.idle)
        assert _context(screen).startswith(before + "Juliette\n")
        assert [e.line for e in screen.conversation.exchanges] == ["Romeo", "Juliette"]


async def test_edit_during_a_reply_stops_it_and_shows_nothing_more_of_it(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        gate = threading.Event()  # hold the runner: the reply is still to come at ctrl+t
        screen.runner.submit(lambda: gate.wait(10))
        screen.query_one("#chat-input").value = "Romeo"
        await pilot.press("enter", "ctrl+t")
        gate.set()
        await wait_until(pilot, lambda: screen.runner.idle)
        await pilot.pause()
        assert screen.conversation.exchanges == [] and not screen.query(".turn.user")
        assert screen.runner.session.ids == [] and not screen.replying
        assert screen.query_one("#chat-input").value == "Romeo"


async def test_regenerate_or_edit_with_nothing_sent_says_so(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await pilot.press("ctrl+g")
        assert "nothing to regenerate yet" in screen.query_one(NoticeLine).message
        await pilot.press("ctrl+t")
        assert "nothing to edit yet" in screen.query_one(NoticeLine).message
        assert not screen.replying and screen.runner.session.ids == []


async def test_typed_settings_apply_to_the_session_and_show_on_the_source_line(
    tiny_app, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await enter_settings(
            pilot, temperature="1.35", top_k="0", top_p="0.9", min_p="0.05",
            repetition_penalty="1.2", seed="11",
        )  # fmt: skip
        await wait_until(pilot, lambda: screen.runner.idle)
        sampling = screen.runner.session.sampling
        assert (sampling.temperature, sampling.top_k, sampling.top_p) == (1.35, None, 0.9)
        assert (sampling.min_p, sampling.repetition_penalty) == (0.05, 1.2)
        assert screen.runner.session.seed == 11 and screen.seed == 11
        source = str(screen.query_one("#chat-source").render())
        for shown in ("temperature 1.35", "top-k off", "top-p 0.9", "min-p 0.05"):
            assert shown in source
        assert "repetition penalty 1.2" in source and "seed 11" in source
        assert screen.focused is screen.query_one("#chat-input")  # back where it was


async def test_a_new_chat_with_the_same_seed_replies_the_same(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await enter_settings(pilot, temperature="1.5", top_k="0", seed="5")
        await _say(screen, pilot, wait_until, "Romeo")
        first = screen.reply_text
        await pilot.press("ctrl+r")
        await _say(screen, pilot, wait_until, "Romeo")
        assert screen.reply_text == first


async def test_saving_the_conversation_writes_a_fresh_file(
    tiny_app, wait_until, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chat.txt").write_text("an earlier chat")
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await _say(screen, pilot, wait_until, "Romeo")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "chat-2.txt" in (_notice(screen) or ""))
        saved = tmp_path / "chat-2.txt"
        assert saved.read_text() == f"> Romeo\n{screen.reply_text.strip(chr(10))}\n"
        assert (tmp_path / "chat.txt").read_text() == "an earlier chat"
        assert screen.query_one(NoticeLine).message.endswith("to chat-2.txt")


async def test_a_failed_save_is_a_one_line_notice(tiny_app, wait_until, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("tui.studio.saving.os.fsync", full)
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_chat(tiny_app, pilot, wait_until)
        await _say(screen, pilot, wait_until, "Romeo")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "could not save" in (_notice(screen) or ""))
        notice = _notice(screen)
        assert notice == "could not save the conversation in .: No space left on device"
        assert tiny_app.is_running
        assert [path for path in tmp_path.iterdir() if path.is_file()] == []  # nothing half-made
