"""The candidate panel: the whole vocabulary ranked as the draw sees it, the cut line, the cursor
past rank 10, greedy's ranking and each candidate's logit."""

from __future__ import annotations

import pytest
import torch

from core import load_model, ranked_distribution
from tui.studio.screens.generate import GenerateScreen
from tui.studio.widgets.common.probability import ProbabilityPanel


async def _open_generate(app, pilot, wait_until) -> GenerateScreen:
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, GenerateScreen)
    await wait_until(pilot, lambda: screen.distribution is not None and screen.runner.idle)
    await pilot.pause()
    return screen


async def _settle(screen, pilot, wait_until) -> None:
    await wait_until(pilot, lambda: screen.runner.idle)
    await pilot.pause()


def _panel_lines(screen) -> list[str]:
    return screen.query_one(ProbabilityPanel).render().plain.splitlines()


def _rows(screen) -> dict[int, list[str]]:
    """rank -> the fields of its row, as the panel shows it."""
    rows = {}
    for line in _panel_lines(screen):
        fields = line.replace("▸", " ").replace("✓", " ").split()
        if fields and fields[0].isdigit() and fields[-1][:1] in "+-":
            rows[int(fields[0])] = fields
    return rows


async def _top_k_five(screen, pilot, wait_until) -> None:
    await pilot.press("k", "k", "k")  # 40 -> 20 -> 10 -> 5
    await _settle(screen, pilot, wait_until)
    assert screen.top_k == 5


async def test_kept_of_vocabulary_counts_the_nonzero_probabilities(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await _top_k_five(screen, pilot, wait_until)
        session = screen.runner.session
        probs = ranked_distribution(session.pending_logits(), session.sampling).probs
        kept = int((probs > 0).sum())
        vocab = screen.info.vocab_size
        ranking = screen.distribution.ranking
        assert kept == sum(p > 0 for p in ranking.probs) == 5
        assert f"kept {kept} of {vocab}" in _panel_lines(screen)[0]


async def test_cut_line_sits_after_rank_k_with_top_k(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await _top_k_five(screen, pilot, wait_until)
        lines = _panel_lines(screen)
        at = next(i for i, line in enumerate(lines) if "top-k 5 cut" in line)
        assert lines[at - 1].split()[0] == "5"
        assert lines[at + 1].split()[0] == "6"
        assert sum("cut" in line for line in lines) == 1


async def test_top_p_cut_line_names_top_p(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        screen.top_k = 0  # off: only top-p cuts
        screen.top_p = 0.55
        await pilot.press("p")  # 0.55 -> 0.50
        await _settle(screen, pilot, wait_until)
        ranking = screen.distribution.ranking
        lines = _panel_lines(screen)
        at = next(i for i, line in enumerate(lines) if "top-p 0.50 cut" in line)
        assert lines[at - 1].split()[0] == str(ranking.kept)


async def test_cursor_moves_past_rank_ten_and_forcing_rank_twelve_emits_it(tiny_app, wait_until):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await _top_k_five(screen, pilot, wait_until)  # rank 12 is past the cut
        ranking = screen.distribution.ranking
        await pilot.press(*["down"] * 11)
        panel = screen.query_one(ProbabilityPanel)
        assert panel.cursor == 11
        marked = [line for line in _panel_lines(screen) if "▸" in line]
        assert len(marked) == 1 and marked[0].split()[0] == "12"
        assert 1 not in _rows(screen)  # the panel scrolled down to it
        before = screen.text
        await pilot.press("enter")
        await _settle(screen, pilot, wait_until)
        step = screen.steps[-1]
        assert (step.token_id, step.rank, step.forced) == (ranking.token_ids[11], 12, True)
        assert step.prob == 0.0  # the draw could not have picked it
        assert screen.text == before + step.text
        assert "rank 12" in "\n".join(_panel_lines(screen))


async def test_page_down_moves_the_cursor_a_page_and_the_panel_follows(tiny_app, wait_until):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        panel = screen.query_one(ProbabilityPanel)
        await pilot.press("pagedown", "pagedown")
        assert panel.cursor > 10
        assert panel.cursor + 1 in _rows(screen)
        await pilot.press("pageup", "pageup")
        assert panel.cursor == 0
        assert 1 in _rows(screen)


async def test_temperature_zero_still_lists_the_ranking(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        screen.temperature = 0.1
        await pilot.press("t")
        await _settle(screen, pilot, wait_until)
        ranking = screen.distribution.ranking
        lines = _panel_lines(screen)
        assert f"kept 1 of {screen.info.vocab_size}" in lines[0]
        at = next(i for i, line in enumerate(lines) if "greedy (T = 0) cut" in line)
        assert lines[at - 1].split()[0] == "1"
        rows = _rows(screen)
        assert len(rows) > 10  # the ranking goes on below the argmax
        shown = [float(rows[rank][-2].rstrip("%")) for rank in sorted(rows)]
        assert shown == sorted(shown, reverse=True)  # softmax of the raw logits, descending
        assert shown[0] == pytest.approx(100 * ranking.uncut[0], abs=0.05)


async def test_logits_shown_are_the_models_logits_for_that_step(
    tiny_app, tiny_checkpoint, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("space")
        await _settle(screen, pilot, wait_until)
        session = screen.runner.session
        model, checkpoint = load_model(tiny_checkpoint)
        ids = checkpoint.tokenizer.encode(screen.text)
        with torch.inference_mode():
            expected = model(torch.tensor([ids[-model.config.block_size :]]))[0, -1].tolist()
        ranking = screen.distribution.ranking
        rows = _rows(screen)
        assert len(rows) > 10
        for rank, fields in rows.items():
            assert float(fields[-1]) == pytest.approx(
                expected[ranking.token_ids[rank - 1]], abs=0.01
            )
        assert session.ids == ids
