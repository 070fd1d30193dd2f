"""The Generate screen: step, force a candidate, undo, and re-score when the settings change."""

from __future__ import annotations

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
