"""The Generate screen's tail draws on the tiny checkpoint: both runs as core draws them from
the text so far with the screen's settings and seed, the tokens from below the cut marked,
named by the weights and gone when other weights load."""

from __future__ import annotations

from textual.widgets import Static

from core import load_model, tail_draws
from tui.studio.messages import WeightSource
from tui.studio.screens.generate import GenerateScreen
from tui.studio.widgets.generate.side_panel import SidePanel
from tui.studio.widgets.generate.tail_draws import (
    COUNT,
    LISTED,
    TailDrawsView,
)


async def _tail(app, pilot, wait_until, **settings) -> tuple[GenerateScreen, TailDrawsView]:
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, GenerateScreen)
    await wait_until(pilot, lambda: screen.distribution is not None and screen.runner.idle)
    for name, value in settings.items():
        setattr(screen, name, value)
    await pilot.press("d")
    view = screen.query_one(TailDrawsView)
    await wait_until(pilot, lambda: view.drawn is not None and not view.busy and view.runner.idle)
    await pilot.pause()
    return screen, view


def _shown(view, part: str):
    return view.query_one(f"#tail-{part}", Static).render()


def _marked(content, parted: bool) -> list[str]:
    """The text of every span drawn as a draw from below the cut (underlined), or as the one
    where the texts part (on a red background)."""
    plain = str(content)
    return [
        plain[span.start : span.end]
        for span in content.spans
        if (span.style.background is not None if parted else span.style.underline)
    ]


async def test_tail_draws_show_what_core_draws_from_the_text_so_far(
    tiny_app, tiny_checkpoint, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _tail(tiny_app, pilot, wait_until, top_k=0, top_p=0.5)
        assert screen.query_one(SidePanel).current == "gen-tail"
        model, checkpoint = load_model(tiny_checkpoint)
        wanted = tail_draws(
            model, checkpoint.tokenizer, screen.text, screen.sampling(), COUNT, screen.seed
        )
        draws = view.draws
        assert draws.cut == wanted.cut == "top-p 0.5"
        for shown, run in (
            (draws.with_cut, wanted.with_cut),
            (draws.without_cut, wanted.without_cut),
        ):
            assert shown.tokens == run.tokens and shown.below_cut == run.below_cut
        without = wanted.without_cut
        first = without.first_below
        assert first is not None and wanted.with_cut.below_count == 0
        header = str(_shown(view, "header"))
        assert header.startswith(screen.info.source)
        assert f"{without.below_count} of {COUNT} tokens came from below it" in " ".join(
            header.split()
        )
        assert f"derailed at token {first + 1}" in " ".join(header.split())
        rows = _shown(view, "rows")
        for run in (wanted.with_cut, without):
            assert "".join(run.tokens).replace("\n", "↵\n") in str(rows).replace("␠", " ")
        assert _marked(rows, parted=True) == [without.tokens[first].replace("\n", "↵\n")]
        # the others in the text, and the first LISTED in the list below it
        marked = _marked(rows, parted=False)
        assert len(marked) == without.below_count - 1 + min(without.below_count, LISTED)


async def test_tail_draws_say_what_to_set_when_no_cut_is_set(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _tail(tiny_app, pilot, wait_until, top_k=0, top_p=1.0)
        assert view.draws.cut == "top-k 40"  # the default cut stands in
        header = " ".join(str(_shown(view, "header")).split())
        assert "No cut is set" in header and "set top-p (p/P) or top-k (k/K)" in header


async def test_tail_draws_follow_the_settings(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _tail(tiny_app, pilot, wait_until)
        assert view.draws.cut == "top-k 40"
        await pilot.press("k")  # top-k 40 -> 20: the shown view draws again
        await wait_until(pilot, lambda: view.draws.cut == "top-k 20" and view.runner.idle)


async def test_loading_other_weights_clears_the_tail_draws(tiny_app, tiny_checkpoint, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _tail(tiny_app, pilot, wait_until)
        before = view.drawn.source
        assert before == screen.info.source
        screen.info = None
        tiny_app.use_weights(WeightSource("checkpoint again", checkpoint=str(tiny_checkpoint)))
        await wait_until(pilot, lambda: screen.info is not None and view.source != before)
        # draws of the old weights never stand under the new name
        assert view.drawn is None or view.drawn.source == view.source
        await wait_until(pilot, lambda: view.drawn is not None and view.runner.idle)
        assert str(_shown(view, "header")).startswith("checkpoint again")


async def test_tail_draws_fit_an_80x24_terminal(tiny_app, wait_until):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen, view = await _tail(tiny_app, pilot, wait_until, top_k=0, top_p=0.5)
        assert view.region.width >= 70  # the text is hidden: the draws take the width
        assert view.query_one("#tail-body").region.height > 3
        for line in str(_shown(view, "header")).splitlines():
            assert len(line) <= view.content_width(), line
