"""The X-ray views on a model being trained: a tiny run on the Train screen, w copies its weights
to Generate, Chat and Model, and every view shows what those weights compute, not the
checkpoint's."""

from __future__ import annotations

import contextlib

import pytest
import torch

from core import (
    attention_maps,
    attention_stages,
    load_model,
    parameter_counts,
    perturbation_probe,
    prediction_tape,
    session_from_snapshot,
    tail_draws,
)
from tui.studio.screens.chat import ChatScreen
from tui.studio.screens.generate import GenerateScreen
from tui.studio.screens.model import ModelScreen
from tui.studio.widgets.common.probability import ProbabilityPanel
from tui.studio.widgets.common.tape import TapeView
from tui.studio.widgets.generate.cache_race import CacheRace
from tui.studio.widgets.generate.sampling_lab import SamplingLab
from tui.studio.widgets.generate.side_panel import SidePanel
from tui.studio.widgets.generate.tail_draws import COUNT, TailDrawsView
from tui.studio.widgets.model.probe import ProbeView
from tui.studio.widgets.model.sizing import SizingView
from tui.studio.widgets.model.xray import AttentionXray

PROMPT = "ROMEO:\\n"  # typed as in the prompt box


@contextlib.asynccontextmanager
async def training_weights(app, pilot, wait_until):
    """A long tiny run on the Train screen, its weights copied with w once it has stepped; the
    run keeps training until the block ends, then stops and saves."""
    train = app.train_screen
    train.set_steps(100000)
    try:
        await pilot.press("t")
        await wait_until(pilot, lambda: train.last is not None and train.last.step >= 2, 60)
        await pilot.press("w")
        await wait_until(pilot, lambda: app.weights_source.snapshot is not None, 60)
        snapshot = app.weights_source.snapshot
        assert app.weights_source.label == f"training weights at step {snapshot.step}"
        yield snapshot, session_from_snapshot(snapshot)
    finally:
        train.shutdown(30)


async def _generate(app, pilot, wait_until) -> GenerateScreen:
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, GenerateScreen)
    await wait_until(pilot, lambda: screen.info is not None and screen.runner.idle)
    screen.query_one("#prompt").value = PROMPT
    await pilot.press("i", "enter")
    await wait_until(pilot, lambda: screen.prompt_text == "ROMEO:\n" and screen.runner.idle)
    await pilot.pause()
    return screen


def _logits_after(session, text: str) -> list[float]:
    ids = session.tokenizer.encode(text)[-session.model.config.block_size :]
    with torch.inference_mode():
        return session.model(torch.tensor([ids]))[0, -1].tolist()


def _flat(values) -> list[float]:
    """Nested rows of numbers as one list."""
    if isinstance(values, list | tuple):
        return [number for value in values for number in _flat(value)]
    return [values]


async def _view(screen, pilot, wait_until, name: str):
    panel = screen.query_one(SidePanel)
    while panel.current != name:
        await pilot.press("v")
    await wait_until(pilot, lambda: screen.runner.idle and not panel.following().busy)
    await pilot.pause()
    return panel.following()


async def test_training_weights_reach_generate_chat_and_model(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        async with training_weights(tiny_app, pilot, wait_until) as (snapshot, expected):
            label = tiny_app.weights_source.label
            for key, kind in (("2", GenerateScreen), ("3", ChatScreen), ("4", ModelScreen)):
                await pilot.press("escape", key)
                screen = tiny_app.screen
                assert isinstance(screen, kind)
                await wait_until(pilot, lambda s=screen: s.info is not None and s.runner.idle)
                assert screen.info.label == label
                assert screen.info.num_parameters == expected.model.num_parameters()
            await pilot.press("3")
            chat = tiny_app.screen
            chat.temperature = 0  # greedy: the reply depends on the weights alone
            expected.set_sampling(temperature=0)
            await wait_until(pilot, lambda: chat.runner.session.sampling.temperature == 0)
            assert chat.focused is chat.query_one("#chat-input")
            await pilot.press(*"ROMEO", "enter")
            await wait_until(pilot, lambda: not chat.replying and chat.runner.idle)
            reply = "".join(step.text for step in expected.reply("ROMEO", 400))
            assert chat.reply_text == reply


async def test_generate_views_show_the_training_weights(tiny_app, tiny_checkpoint, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        async with training_weights(tiny_app, pilot, wait_until) as (snapshot, expected):
            screen = await _generate(tiny_app, pilot, wait_until)
            logits = _logits_after(expected, screen.text)
            ranking = screen.distribution.ranking
            assert list(ranking.logits) == pytest.approx(
                [logits[i] for i in ranking.token_ids], abs=1e-4
            )
            assert "kept" in screen.query_one(ProbabilityPanel).render().plain

            await pilot.press("space", "space")
            view = await _view(screen, pilot, wait_until, "gen-tape")
            assert isinstance(view, TapeView)
            tape = view.tape
            wanted = prediction_tape(expected.model, expected.tokenizer, screen.text)
            assert tape.losses == pytest.approx(wanted.losses, abs=1e-5)
            model, checkpoint = load_model(tiny_checkpoint)
            other = prediction_tape(model, checkpoint.tokenizer, screen.text)
            assert tape.mean_loss != pytest.approx(other.mean_loss, abs=1e-4)
            header = str(screen.query_one("#tape-header").render())
            assert f"mean -log p(target) = {wanted.mean_loss:.4f}" in header

            lab = await _view(screen, pilot, wait_until, "gen-lab")
            assert isinstance(lab, SamplingLab)
            logits = _logits_after(expected, screen.text)
            ranking = lab.stages.ranking
            assert list(ranking.logits) == pytest.approx(
                [logits[i] for i in ranking.token_ids], abs=1e-4
            )

            await pilot.press("c")
            race = screen.query_one(CacheRace)
            await wait_until(pilot, lambda: race.result is not None and race.result.done, 60)
            assert race.result.first_difference is None
            assert race.result.block_size == snapshot.config.block_size
            assert len(race.result.positions) == race.result.planned > 0

            await pilot.press("d")
            tail = screen.query_one(TailDrawsView)
            await wait_until(pilot, lambda: tail.drawn is not None and tail.runner.idle, 60)
            assert tail.drawn.source == screen.info.source
            wanted = tail_draws(
                expected.model, expected.tokenizer, screen.text, screen.sampling(), COUNT, 0
            )
            assert tail.draws.without_cut.tokens == wanted.without_cut.tokens
            assert tail.draws.with_cut.tokens == wanted.with_cut.tokens


async def test_model_views_show_the_training_weights(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        async with training_weights(tiny_app, pilot, wait_until) as (snapshot, expected):
            await pilot.press("4")
            screen = tiny_app.screen
            assert isinstance(screen, ModelScreen)
            await wait_until(pilot, lambda: screen.attention is not None and screen.runner.idle)
            model, tokenizer = expected.model, expected.tokenizer
            assert screen.parameters == parameter_counts(model)
            ids = [int(i) for i in tokenizer.encode("".join(screen.attention.tokens))]
            assert _flat(screen.attention.maps) == pytest.approx(
                _flat(attention_maps(model, ids, 0)), abs=1e-5
            )

            await pilot.press("x")
            xray = screen.query_one(AttentionXray)
            await wait_until(pilot, lambda: xray.request is not None and xray.runner.idle)
            wanted = attention_stages(model, tokenizer, xray.text, 0, 0)
            assert _flat(xray.heads[0].weights) == pytest.approx(_flat(wanted.weights), abs=1e-5)
            assert _flat(xray.heads[0].scores) == pytest.approx(_flat(wanted.scores), abs=1e-4)

            await pilot.press("p")
            probe = screen.query_one(ProbeView)
            await wait_until(pilot, lambda: probe.probe is not None and probe.runner.idle)
            wanted = perturbation_probe(model, tokenizer, probe.text, probe.probe.position)
            assert probe.probe.max_change == pytest.approx(wanted.max_change, abs=1e-4)

            await pilot.press("s")
            sizing = screen.query_one(SizingView)
            await wait_until(pilot, lambda: sizing.sized is not None and sizing.lens_views, 60)
            assert sizing.sized.before.parts[-1] == ("total", model.num_parameters())
            assert sizing.sized.config.embedding_dim == snapshot.config.embedding_dim


async def test_generate_keeps_its_copy_while_training_goes_on(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        async with training_weights(tiny_app, pilot, wait_until) as (snapshot, expected):
            screen = await _generate(tiny_app, pilot, wait_until)
            train = tiny_app.train_screen
            await wait_until(pilot, lambda: train.last.step > snapshot.step + 5, 60)
            await pilot.press("space")
            await wait_until(pilot, lambda: len(screen.steps) == 1 and screen.runner.idle)
            logits = _logits_after(expected, screen.text)
            ranking = screen.distribution.ranking
            assert list(ranking.logits) == pytest.approx(
                [logits[i] for i in ranking.token_ids], abs=1e-4
            )
