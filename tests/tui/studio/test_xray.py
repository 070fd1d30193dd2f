"""The X-ray views on the tiny checkpoint: what they render comes from the real computations."""

from __future__ import annotations

from textual.widgets import Input, Static

from core import load_model, prediction_tape, size_model
from tui.studio.messages import WeightSource
from tui.studio.screens.generate import GenerateScreen
from tui.studio.screens.model import XRAY_TEXT, ModelScreen
from tui.studio.widgets.common.tape import TapeView
from tui.studio.widgets.generate.cache_race import CacheRace
from tui.studio.widgets.generate.sampling_lab import SamplingLab
from tui.studio.widgets.generate.side_panel import SidePanel
from tui.studio.widgets.model.probe import ProbeView
from tui.studio.widgets.model.sizing import LENS_TEXT, SizingView
from tui.studio.widgets.model.xray import AttentionXray

SENTENCE = "Is 42 the quest?"  # q, ?, t and digits: each one a key somewhere in the studio


def rendered(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def _open_view(app, pilot, wait_until, key: str):
    await pilot.press("4", key)
    screen = app.screen
    assert isinstance(screen, ModelScreen)
    view = screen.query_one(AttentionXray if key == "x" else ProbeView)
    await wait_until(pilot, lambda: view.pending is not None and _settled(view))
    await pilot.pause()
    return screen, view


def _settled(view) -> bool:
    result = view.request if isinstance(view, AttentionXray) else view.probe
    return result is not None and view.runner.idle


def _map_cells(screen) -> dict[tuple[int, int], str]:
    """(query, key) -> the two characters the single-head map drew for that weight."""
    lines = rendered(screen, "#xa-map").splitlines()[1:-1]
    rows = [int(line[1:5]) for line in lines]
    return {
        (row, rows[0] + column): line[9 + 2 * column : 11 + 2 * column]
        for row, line in zip(rows, lines, strict=True)
        for column in range(len(rows))
    }


async def test_attention_weights_upper_triangle_is_exact_zeros_drawn_from_the_weights(
    tiny_app, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open_view(tiny_app, pilot, wait_until, "x")
        await pilot.press("up", "up", "up")
        stages = view.stages
        for query, row in enumerate(stages.weights):
            assert all(w == 0.0 for w in row[query + 1 :])
            assert all(w > 0 for w in row[: query + 1])
        for (query, key), cell in _map_cells(screen).items():
            assert (cell == "··") == (stages.weights[query][key] == 0)
        lines = rendered(screen, "#xa-stages").splitlines()[3:]
        table = {line.split()[0]: line.split() for line in lines if line.strip()}
        assert table["softmax"][-5:-2] == ["0", "0", "0"]  # the three future keys, then "bits"
        assert table["masked"][-3:] == ["-inf", "-inf", "-inf"]
        cropped = len(XRAY_TEXT) - len(stages.tokens)  # characters: one token each
        assert cropped > 0 and f"✂ {cropped} tokens cropped" in rendered(screen, "#xa-text")

        await pilot.press("m")  # a 0-filled mask: softmax gives the future weight
        await wait_until(pilot, lambda: view.request.zero_mask and view.runner.idle)
        await pilot.pause()
        leaked = view.stages.weights
        assert all(w > 0 for row in leaked for w in row)
        cells = _map_cells(screen)
        assert all(cell != "··" for (query, key), cell in cells.items() if key > query)
        assert "mask 0: leaks" in rendered(screen, "#xa-header")


async def test_switching_off_the_scale_recomputes_with_raw_scores(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open_view(tiny_app, pilot, wait_until, "x")
        scaled = view.stages
        assert scaled.scaled != scaled.scores
        await pilot.press("n")
        await wait_until(pilot, lambda: not view.request.scale and view.runner.idle)
        assert view.stages.scaled == view.stages.scores
        assert view.stages.scores == scaled.scores  # the same q . k, only not divided
        await pilot.press("g")
        await pilot.pause()
        assert "every head" in rendered(screen, "#xa-map")


async def test_probe_leaves_the_left_at_zero_and_moves_the_ffn_only_at_the_position(
    tiny_app, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open_view(tiny_app, pilot, wait_until, "p")
        await pilot.press("right", "right", "right")
        await wait_until(pilot, lambda: view.probe.position == 3 and view.runner.idle)
        await pilot.pause()
        for line in rendered(screen, "#xp-table").splitlines():
            index = int(line[1:4])
            attention, ffn, whole = (float(v) for v in line[11:].split() if _number(v))
            if index < 3:
                assert attention == ffn == whole == 0
            elif index == 3:
                assert ffn > 0 and whole > 0
            else:
                assert ffn == 0
        verdicts = rendered(screen, "#xp-verdicts")
        assert "✓ causality" in verdicts and "✓ position independence" in verdicts


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


async def test_typing_a_sentence_into_the_xray_fields_fires_no_action(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open_view(tiny_app, pilot, wait_until, "x")
        for key, field in (("x", "#xray-attention-input"), ("p", "#xray-probe-input")):
            await pilot.press(key, "i", "end", "ctrl+u", *SENTENCE)
            assert screen.query_one(field, Input).value == SENTENCE
            assert tiny_app.screen is screen  # no mode switch (digits), no help (?), no quit
            assert isinstance(screen.focused, Input)
            await pilot.press("escape")
            assert not isinstance(screen.focused, Input)
        assert (view.layer, view.head, view.scale, view.zero_mask, view.grid) == (
            0,
            0,
            True,
            False,
            False,
        )
        assert screen.view == "probe"


# --- Generate: the tape, the sampling lab, the cache race ------------------------------------


async def _open_generate(app, pilot, wait_until):
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, GenerateScreen)
    await wait_until(pilot, lambda: screen.distribution is not None and screen.runner.idle)
    return screen


async def _show(screen, pilot, wait_until, name: str, *keys: str):
    panel = screen.query_one(SidePanel)
    while panel.current != name:
        await pilot.press("v")
    await pilot.press(*keys)
    await wait_until(pilot, lambda: screen.runner.idle and not panel.following().busy)
    await pilot.pause()


async def test_tape_mean_is_the_loss_of_prediction_tape_on_the_text(
    tiny_app, tiny_checkpoint, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("space", "space")
        await _show(screen, pilot, wait_until, "gen-tape")
        model, checkpoint = load_model(tiny_checkpoint)
        expected = prediction_tape(model, checkpoint.tokenizer, screen.text)
        tape = screen.query_one(TapeView).tape
        assert tape.targets[:-1] == tape.inputs[1:]  # the target row: the input shifted by one
        assert f"mean -log p(target) = {expected.mean_loss:.4f}" in rendered(screen, "#tape-header")
        rows = rendered(screen, "#tape-rows").splitlines()
        losses = [float(v) for line in rows if line.startswith("-log p") for v in line.split()[2:]]
        assert losses == [round(loss, 3) for loss in expected.losses]


async def test_sampling_lab_shows_what_each_cut_kept_over_the_whole_vocabulary(
    tiny_app, wait_until
):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await _show(screen, pilot, wait_until, "gen-lab", "k", "k")  # top-k 40 -> 20 -> 10
        lab = screen.query_one(SamplingLab)
        vocab = screen.info.vocab_size
        assert lab.stages.sampling.top_k == 10
        assert sum(p > 0 for p in lab.stages.ranking.probs) == 10
        assert f"kept 10 of {vocab}" in rendered(screen, "#lab-header")
        rows = rendered(screen, "#lab-rows").splitlines()
        assert len(rows) == vocab  # every token of the vocabulary, cut or not
        assert sum(row.split()[6] == "cut" for row in rows) == vocab - 10

        screen.temperature = 9.5
        await _show(screen, pilot, wait_until, "gen-lab", "T", "T")
        assert screen.temperature == 10.0  # 0.5 steps above 2, at most 10
        assert lab.stages.sampling.temperature == 10.0


async def test_cache_race_gives_the_same_greedy_tokens_both_ways(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("c")
        race = screen.query_one(CacheRace)
        await wait_until(pilot, lambda: race.result is not None and race.result.done)
        await pilot.pause()
        result = race.result
        assert len(result.positions) == result.planned > 0
        assert result.first_difference is None
        assert f"same {result.planned} greedy tokens" in rendered(screen, "#race-header")
        # then the same greedy text with the weights read in each format, and what auto takes
        await wait_until(pilot, lambda: race.formats is not None and not race.racing)
        await pilot.pause()
        formats, table = race.formats, rendered(screen, "#race-formats")
        assert [lane.weights for lane in formats.lanes][:2] == ["fp32", "bf16"]
        assert formats.lane("fp32").first_difference is None
        assert formats.lane("fp32").bytes_per_token > 3 * formats.lanes[-1].bytes_per_token / 2
        assert all(lane.weights in table for lane in formats.lanes)
        assert f"--weights auto takes {formats.chosen}" in table.replace("\n", " ")


async def test_loading_other_weights_clears_the_cache_race(tiny_app, tiny_checkpoint, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        await pilot.press("c")
        race = screen.query_one(CacheRace)
        await wait_until(pilot, lambda: race.result is not None and race.result.done)
        screen.info = None
        tiny_app.use_weights(WeightSource("checkpoint again", checkpoint=str(tiny_checkpoint)))
        await wait_until(pilot, lambda: screen.info is not None)
        assert race.result is None  # the race measured weights that are no longer loaded
        assert race.formats is None


async def test_typing_a_sentence_into_the_prompt_fires_no_action(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen = await _open_generate(tiny_app, pilot, wait_until)
        settings = (screen.temperature, screen.top_k, screen.top_p)
        await pilot.press("i", "end", "ctrl+u", *SENTENCE)
        assert screen.query_one("#prompt", Input).value == SENTENCE
        assert tiny_app.screen is screen and screen.query_one(SidePanel).current == "probs"
        assert (screen.temperature, screen.top_k, screen.top_p) == settings
        assert screen.steps == [] and not screen.running
        await pilot.press("escape")
        assert not isinstance(screen.focused, Input)


# --- Model: the sizing lens --------------------------------------------------------------------


async def test_sizing_lens_sizes_an_edited_shape_and_cuts_a_text_both_ways(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4", "s")
        screen = tiny_app.screen
        view = screen.query_one(SizingView)
        await wait_until(pilot, lambda: view.sized is not None and len(view.lens_views) == 2)
        assert view.sized.before.parts[-1] == ("total", screen.info.num_parameters)
        await pilot.press("i", "end", "ctrl+u", *SENTENCE)  # into the width field
        assert screen.query_one("#sz-embedding_dim", Input).value == SENTENCE
        assert tiny_app.screen is screen and screen.view == "sizing"
        await pilot.press("ctrl+u", "6", "4", "enter")  # width 32 -> 64
        await wait_until(pilot, lambda: view.sized.config.embedding_dim == 64)
        await pilot.pause()
        expected = size_model(view.sized.config, screen.info.vocab_size).parts[-1][1]
        total = next(line for line in rendered(screen, "#sz-costs").splitlines() if "total" in line)
        assert total.split()[1:3] == [f"{screen.info.num_parameters:,}", f"{expected:,}"]
        lens = rendered(screen, "#sz-lens")
        assert f"char: {len(LENS_TEXT)} tokens" in lens and "bpe: " in lens

        await pilot.press("t", "end", "ctrl+u", *SENTENCE)
        assert screen.query_one("#sz-text", Input).value == SENTENCE
        assert tiny_app.screen is screen and screen.view == "sizing"
        await pilot.press("escape")
        assert not isinstance(screen.focused, Input)


async def test_every_model_view_names_the_weights_it_shows(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open_view(tiny_app, pilot, wait_until, "x")
        source = screen.info.source
        assert source == "checkpoint tiny, step 20"
        assert source in str(screen.query_one("#journey-box").border_title)
        assert source in rendered(screen, "#xa-header")
        generate = await _open_generate(tiny_app, pilot, wait_until)
        await _show(generate, pilot, wait_until, "gen-tape")
        assert source in str(generate.query_one(TapeView).border_title)
