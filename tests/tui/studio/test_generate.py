"""The Generate screen: step, force a candidate, undo, and re-score when the settings change."""

from __future__ import annotations

from textual import events

from tests.tui.studio.conftest import enter_settings
from tui.studio.screens.generate import GenerateScreen
from tui.studio.widgets.common.probability import ProbabilityPanel

PROMPT = "ROMEO:\\n"  # typed as in the prompt box, where \n stands for a newline


async def _open_generate(app, pilot, wait_until) -> GenerateScreen:
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, GenerateScreen)
    screen.query_one("#prompt").value = PROMPT
    await pilot.press("i", "enter")
    await wait_until(pilot, lambda: screen.runner.idle and screen.prompt_text == "ROMEO:\n")
    await wait_until(pilot, lambda: screen.distribution is not None)
    return screen


async def _settle(screen, pilot, wait_until) -> None:
    await wait_until(pilot, lambda: screen.runner.idle)
    await pilot.pause()


async def test_stepper_advances_one_token_per_key(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("space")
        await _settle(screen, pilot, wait_until)
        await pilot.press("space")
        await _settle(screen, pilot, wait_until)
        assert len(screen.steps) == 2
        assert screen.text.startswith("ROMEO:\n")
        assert screen.cache_length == len("ROMEO:\n") + 2


async def test_forcing_a_candidate_changes_the_text_and_undo_restores_it(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        before = screen.text
        panel = screen.query_one(ProbabilityPanel)
        await pilot.press("down", "down")
        forced = panel.selected
        assert forced.token_id != screen.distribution.candidates[0].token_id
        await pilot.press("enter")
        await _settle(screen, pilot, wait_until)
        assert screen.text == before + forced.text
        assert screen.steps[-1].forced and screen.steps[-1].token_id == forced.token_id

        await pilot.press("backspace")
        await _settle(screen, pilot, wait_until)
        assert screen.text == before
        assert screen.steps == []
        assert screen.cache_length == len("ROMEO:\n")


async def test_changing_temperature_rescores_the_pending_step(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        before = screen.distribution
        await pilot.press("T", "T", "T")  # 0.8 -> 1.1: flatter
        await _settle(screen, pilot, wait_until)
        after = screen.distribution
        assert screen.temperature == 1.1
        assert after.entropy > before.entropy
        assert after.candidates[0].prob < before.candidates[0].prob
        assert screen.steps == []  # re-scored in place: no token was drawn


async def test_temperature_zero_shows_a_one_hot_distribution(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        screen.temperature = 0.1
        await pilot.press("t")
        await _settle(screen, pilot, wait_until)
        assert screen.temperature == 0
        distribution = screen.distribution
        assert distribution.greedy
        assert [c.prob for c in distribution.candidates] == [1.0]
        assert distribution.entropy == 0
        assert "greedy" in screen.query_one(ProbabilityPanel).render().plain


async def test_top_k_cuts_the_candidate_list(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        screen.top_k = 2
        await pilot.press("k")  # 40, 20, 10, 5, 3, 2, 1
        await _settle(screen, pilot, wait_until)
        assert screen.top_k == 1
        assert len(screen.distribution.candidates) == 1


async def test_run_generates_until_stopped(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("r")
        await wait_until(pilot, lambda: len(screen.steps) >= 3)
        await pilot.press("r")
        await _settle(screen, pilot, wait_until)
        assert not screen.running
        count = len(screen.steps)
        await pilot.pause(0.2)
        assert len(screen.steps) == count


async def test_generate_without_a_checkpoint_says_how_to_make_one(bare_app):
    async with bare_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2", "space", "enter", "backspace")
        text = str(bare_app.screen.query_one("#gen-source").render())
        assert "minigpt train" in text


async def test_a_load_counts_its_seconds_until_the_distribution_arrives(tiny_app, wait_until):
    import threading

    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        panel = screen.query_one(ProbabilityPanel)
        busy = threading.Event()
        screen.runner.submit(lambda: busy.wait(30))  # the runner busy: the load waits its turn
        screen.load_source(tiny_app.weights_source)
        assert panel.distribution is None and panel._ticker is not None
        panel._waiting_since -= 5  # as if the load had waited five seconds so far
        await pilot.pause(0.6)  # a tick redraws it, whatever else happens on screen
        shown = str(panel.render())
        assert shown.startswith("loading ") and (" 5 s" in shown or " 6 s" in shown)
        busy.set()
        await wait_until(pilot, lambda: screen.ready)
        await pilot.pause(0.6)
        assert panel._ticker is None  # it stops once the ranking is shown
        assert "kept" in str(panel.render())


async def test_typed_settings_rescore_the_pending_step_in_place(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        cache = screen.cache_length
        await enter_settings(pilot, temperature="0", repetition_penalty="1.5", min_p="0.1")
        await _settle(screen, pilot, wait_until)
        assert screen.distribution.greedy
        assert [c.prob for c in screen.distribution.candidates] == [1.0]
        assert screen.steps == [] and screen.cache_length == cache  # no token, no forward
        sampling = screen.runner.session.sampling
        assert (sampling.temperature, sampling.repetition_penalty, sampling.min_p) == (0, 1.5, 0.1)
        source = str(screen.query_one("#gen-source").render())
        assert "temperature 0 (t/T)" in source and "top-k 40 (k/K)" in source
        assert "top-p 1 (p/P)" in source and "min-p 0.1" in source
        assert "repetition penalty 1.5" in source and "seed 0" in source


async def test_a_bad_typed_setting_changes_nothing(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await enter_settings(pilot, temperature="-1")
        assert "temperature must be >= 0" in _notice(tiny_app.screen)
        await pilot.press("escape")
        assert tiny_app.screen is screen and screen.temperature == 0.8


async def _generate(screen, pilot, wait_until, tokens: int) -> str:
    await pilot.press("i", "enter")  # the prompt again: a fresh start
    await wait_until(pilot, lambda: screen.runner.idle and screen.steps == [])
    for _ in range(tokens):
        await pilot.press("space")
        await _settle(screen, pilot, wait_until)
    return screen.text


async def test_the_same_prompt_and_seed_give_the_same_text(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await enter_settings(pilot, temperature="1.5", top_k="0", seed="3")
        first = await _generate(screen, pilot, wait_until, 6)
        assert await _generate(screen, pilot, wait_until, 6) == first
        assert screen.runner.session.seed == 3


async def test_saving_generated_text_picks_a_fresh_name(
    tiny_app, wait_until, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "generated.txt").write_text("keep me")
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("ctrl+s")  # nothing generated yet
        assert "nothing to save yet" in _notice(screen)
        await pilot.press("space", "space")
        await _settle(screen, pilot, wait_until)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "generated-2.txt" in _notice(screen))
        assert (tmp_path / "generated-2.txt").read_text() == screen.text
        assert (tmp_path / "generated.txt").read_text() == "keep me"


def _notice(screen) -> str:
    return str(screen.query("NoticeLine").first().render()) if screen.query("NoticeLine") else ""


async def test_a_pasted_prompt_keeps_its_lines_as_typed_newlines(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        field = screen.query_one("#prompt")
        field.value = ""
        field.focus()
        field.post_message(events.Paste("ROMEO:\nBut soft"))
        await pilot.pause()
        assert field.value == r"ROMEO:\nBut soft"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.runner.idle and screen.prompt_text.endswith("soft"))
        assert screen.prompt_text == "ROMEO:\nBut soft"
