"""Keys and focus on every studio screen: typing stays in a field, esc leaves it, each screen
focuses its main widget when shown, quitting a run asks first, and the palette lists every key."""

from __future__ import annotations

import threading

from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.command import CommandList

from core import SamplingConfig, is_checkpoint
from tui.studio.app import MODES
from tui.studio.commands import bindings_of, studio_commands
from tui.studio.fields import in_text_field
from tui.studio.screens.base import takes_focus
from tui.studio.screens.chat import MAX_REPLY_TOKENS, ChatScreen
from tui.studio.screens.quit import QuitQuestion, quit_question

# q quits, ? opens help, digits switch screens, space steps, and each letter is some screen's key:
# the first field of each screen gets every key, the others a shorter sentence of the same kind
EVERY_KEY = "quoth he? 1 2 3 4 5 6 vex whip frogs, mock TPK lanes"
SENTENCE = "quoth he? 1 to 6"
TRAIN_FIELDS = ("#corpus", "#steps", "#batch-size", "#learning-rate", "#grad-clip", "#seed")


async def _show(app, pilot, key: str):
    await pilot.press(key)
    await pilot.pause()
    return app.screen


async def _type_the_sentence_into(
    app, pilot, screen, selector: str, sentence: str = EVERY_KEY
) -> None:
    """Focus the field, type the sentence, check it all went in, then leave with esc."""
    mode = app.current_mode
    field = screen.query_one(selector)
    field.value = ""
    field.focus()
    await pilot.press(*sentence)
    assert field.value == sentence, selector
    assert app.is_running and app.current_mode == mode, selector
    assert app.screen is screen, selector  # no help, no question, no picker
    await pilot.press("escape")
    assert not in_text_field(screen.focused), selector
    assert screen.focused is screen.main_widget(), selector


async def test_typing_into_every_train_field_fires_no_key(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        for index, selector in enumerate(TRAIN_FIELDS):
            sentence = SENTENCE if index else EVERY_KEY
            await _type_the_sentence_into(tiny_app, pilot, train, selector, sentence)
        assert train.process is None  # t never started a run
        assert not train.has_class("-xray")  # v never opened the X-ray


async def test_typing_into_the_generate_prompt_fires_no_key(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _show(tiny_app, pilot, "2")
        await wait_until(pilot, lambda: screen.ready)
        settings = (screen.temperature, screen.top_k, screen.top_p)
        await _type_the_sentence_into(tiny_app, pilot, screen, "#prompt")
        assert (screen.temperature, screen.top_k, screen.top_p) == settings
        assert screen.steps == [] and not screen.running


async def test_typing_into_the_chat_input_fires_no_key(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _show(tiny_app, pilot, "3")
        await _type_the_sentence_into(tiny_app, pilot, screen, "#chat-input")
        assert not screen.replying


async def test_typing_into_every_model_field_fires_no_key(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _show(tiny_app, pilot, "4")
        views = {  # each view's fields, once the view is shown (sizing is built then)
            "x": lambda: ["#xray-attention-input"],
            "p": lambda: ["#xray-probe-input"],
            "s": lambda: [f"#{field.id}" for field in screen.query(".sz-input")] + ["#sz-text"],
        }
        for key, fields in views.items():
            await pilot.press(key)
            shown, selectors = screen.view, fields()
            assert len(selectors) > 1 or key != "s"
            for index, selector in enumerate(selectors):
                sentence = SENTENCE if index else EVERY_KEY
                await _type_the_sentence_into(tiny_app, pilot, screen, selector, sentence)
                assert screen.view == shown  # o, x, p and s typed as text
                assert screen.focused is screen.query_one(f"#xray-{shown}")


async def test_typing_into_the_experiments_steps_fires_no_key(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _show(tiny_app, pilot, "5")
        await _type_the_sentence_into(tiny_app, pilot, screen, "#exp-steps")
        assert screen.process is None and not screen.has_class("-form-hidden")


async def test_typing_into_an_open_preset_menu_fires_no_key_and_esc_leaves_it(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        for key, selector in (("1", "#preset"), ("5", "#exp-preset")):
            screen = await _show(tiny_app, pilot, key)
            select = screen.query_one(selector)
            select.focus()
            await pilot.press("enter", *SENTENCE)  # the open menu searches as you type
            assert select.expanded and tiny_app.screen is screen and tiny_app.is_running
            assert select.value == "tiny" and tiny_app.current_mode == screen.id
            await pilot.press("escape")  # closes the menu
            assert not select.expanded and screen.focused is select
            await pilot.press("escape")  # leaves the field
            assert screen.focused is screen.main_widget()


async def test_every_screen_focuses_its_main_widget_each_time_it_is_shown(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        for _ in range(2):
            for mode in MODES:  # function keys: they switch from inside a field too
                screen = await _show(tiny_app, pilot, mode.function_key)
                assert screen.focused is not None and screen.focused is screen.entry_widget()
                typing = isinstance(screen, ChatScreen)  # the one screen made for typing
                assert in_text_field(screen.focused) is typing, mode.name
                # a field focused and left behind is not where the next showing starts
                field = next((f for f in screen.query("Input") if takes_focus(f)), None)
                if field is not None and not typing:
                    field.focus()
                    await pilot.pause()
                    assert screen.focused is field


async def test_chat_focuses_its_input_again_after_a_switch(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        chat = await _show(tiny_app, pilot, "3")
        await pilot.press("escape")
        assert chat.focused is chat.query_one("#conversation")
        await pilot.press("1", "3", *"quoth he")
        assert chat.focused is chat.query_one("#chat-input")
        assert chat.query_one("#chat-input").value == "quoth he"
        assert tiny_app.is_running and tiny_app.current_mode == "chat"


async def test_closing_help_gives_focus_back_to_the_field(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        steps = train.query_one("#steps")
        steps.focus()
        await pilot.press("f1")
        assert tiny_app.screen.id != "train"
        await pilot.press("escape")
        assert tiny_app.screen is train and train.focused is steps


async def test_first_esc_leaves_the_chat_input_and_the_second_stops_the_reply(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        chat = await _show(tiny_app, pilot, "3")
        await wait_until(pilot, lambda: chat.info is not None)
        gate = threading.Event()  # hold the runner: a tiny model replies in milliseconds
        chat.runner.submit(lambda: gate.wait(10))
        await pilot.press(*"Romeo", "enter")
        await pilot.press("escape")
        assert chat.replying and chat.focused is chat.query_one("#conversation")
        await pilot.press("escape")
        gate.set()
        await wait_until(pilot, lambda: not chat.replying)
        assert chat.reply_tokens < MAX_REPLY_TOKENS
        assert "[stopped]" in str(chat.reply.render())


def test_quit_question_names_what_runs_and_its_step():
    assert (
        quit_question(12, None) == "A run is training (step 12). Stop and save it, then quit? y / n"
    )
    assert quit_question(None, 3).startswith("A race is running (step 3). Stop and save it,")
    both = quit_question(5, 7)
    assert "training (step 5) and a race is running (step 7). Stop and save both" in both


async def test_quit_with_nothing_running_exits_at_once(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not tiny_app.is_running


async def _training(app, pilot, wait_until):
    train = app.train_screen
    train.set_steps(100_000)
    await pilot.press("t")
    await wait_until(pilot, lambda: train.last is not None)
    return train


async def test_quit_while_training_asks_and_no_keeps_training(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _training(tiny_app, pilot, wait_until)
        await pilot.press("q")
        assert isinstance(tiny_app.screen, QuitQuestion)
        assert "A run is training (step" in str(tiny_app.screen.query_one("#quit-text").render())
        await pilot.press("n")
        assert tiny_app.screen is train and tiny_app.is_running
        step = train.last.step
        await wait_until(pilot, lambda: train.last.step > step)  # still training
        assert train.active and not train.exit_when_stopped
        await pilot.press("x")
        await wait_until(pilot, lambda: train.done)


async def test_yes_to_the_quit_question_stops_saves_and_exits(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _training(tiny_app, pilot, wait_until)
        await pilot.press("q", "y")
        # a tiny run saves in milliseconds: on a busy machine the app may be gone already
        if tiny_app.is_running:
            await wait_until(pilot, lambda: train.finished is not None)
    assert not tiny_app.is_running
    # it stopped and saved before it exited
    assert train.finished is not None and train.finished.error is None
    assert is_checkpoint(train.process.out_dir)
    assert train.finished.stopped and is_checkpoint(train.finished.checkpoint)
    assert train.process.join(timeout=10)


async def test_ctrl_c_on_the_quit_question_quits_at_once(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = await _training(tiny_app, pilot, wait_until)
        await pilot.press("ctrl+c")
        assert isinstance(tiny_app.screen, QuitQuestion)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not tiny_app.is_running and train.finished is None  # not waiting for the save
    tiny_app.shutdown_training()  # what `minigpt studio` does on the way out: stop and save
    assert not train.process.alive and is_checkpoint(train.process.out_dir)


def test_palette_lists_every_screens_keys_from_its_bindings(tiny_app):
    commands = {command.title: command.help for command in studio_commands(tiny_app)}
    assert commands["Generate: Temperature"] == "key t/T"
    assert commands["Generate: Next token"] == "key space"
    assert commands["Train: Start"] == "key t" and commands["Chat: New chat"] == "key ^r"
    assert not any("(" in title for title in commands if ":" in title)  # the key is said once
    for mode in MODES:
        assert f"Show {mode.label}" in commands
        for binding in bindings_of(mode.screen):
            if binding.action != "escape":
                assert f"{mode.label}: {binding.description}" in commands


async def test_the_palette_lists_the_screen_in_view_first(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        titles = [c.title for c in studio_commands(tiny_app) if not c.title.startswith("Show")]
        assert titles[0].startswith("Chat: ")
        chat = [i for i, title in enumerate(titles) if title.startswith("Chat: ")]
        assert chat == list(range(len(chat)))  # all of Chat's before any other screen's


async def _palette_hits(app, pilot, wait_until, search: str) -> list[str]:
    await pilot.press("ctrl+p", *search)
    commands = app.screen.query_one(CommandList)
    await wait_until(pilot, lambda: commands.option_count > 0)
    await pilot.pause(0.2)  # the search may still be adding hits
    return [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]


async def test_palette_finds_a_key_by_a_word_and_runs_it_on_its_screen(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        hits = await _palette_hits(tiny_app, pilot, wait_until, "token")
        assert any("Generate: Next token" in hit and "space" in hit for hit in hits)
        await pilot.press("escape", "escape")
        hits = await _palette_hits(tiny_app, pilot, wait_until, "temp")
        assert any("Generate: Temperature" in hit and "t/T" in hit for hit in hits)
        await pilot.press("ctrl+u", *"Generate: Temperature")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await wait_until(pilot, lambda: tiny_app.current_mode == "generate")
        screen = tiny_app.screen
        default = SamplingConfig().temperature
        await wait_until(pilot, lambda: screen.temperature != default)
        assert screen.temperature == round(default + 0.1, 2)  # T, the key the key bar shows


def _cell_colour(color) -> int:
    """The colour a 256-colour terminal shows for a Textual colour."""
    return RichColor.from_rgb(*color.rgb).downgrade(ColorSystem.EIGHT_BIT).number


async def test_focus_stands_out_in_256_colours(tiny_app):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        steps, seed = train.query_one("#steps"), train.query_one("#seed")
        steps.focus()
        await pilot.pause()
        focused, unfocused = steps.background_colors[1], seed.background_colors[1]
        assert _cell_colour(focused) != _cell_colour(unfocused)
        assert _cell_colour(focused) < 232  # a colour, not one of the greys 232-255
        await pilot.press("escape")  # to the samples panel: its border lights up
        samples_border = train.query_one("#samples").styles.border_top[1]
        plot_border = train.query_one("#loss-plot").styles.border_top[1]
        assert _cell_colour(samples_border) != _cell_colour(plot_border)
        generate = await _show(tiny_app, pilot, "2")
        label = generate.query_one("#prompt-label")
        muted = _cell_colour(label.styles.color)
        await pilot.press("i")  # into the prompt: its label lights up too
        assert _cell_colour(label.styles.color) != muted
