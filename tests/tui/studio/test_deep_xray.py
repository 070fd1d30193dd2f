"""The Model screen's deeper views (inside a head, knockout, logit lens, embeddings) on the
shipped kind of checkpoint and on weights being trained: what they draw is what core computes
on those very weights, named by them, and gone when other weights load."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from core import embedding_lens, fresh_model, inside_head, knockout, load_model, logit_lens
from tests.tui.studio.test_views_while_training import training_weights
from tui.studio.screens.model import ModelScreen
from tui.studio.widgets.model.embeddings import EmbeddingView
from tui.studio.widgets.model.head_inside import HeadInsideView
from tui.studio.widgets.model.knockout import KnockoutView
from tui.studio.widgets.model.lens import LensView

VIEWS = (("v", HeadInsideView), ("k", KnockoutView), ("d", LensView), ("e", EmbeddingView))
LENSES = (("d", LensView), ("e", EmbeddingView))  # the views f puts a fresh init beside


async def _open(app, pilot, wait_until, key: str, kind):
    if not isinstance(app.screen, ModelScreen):
        await pilot.press("4")
    screen = app.screen
    await wait_until(pilot, lambda: screen.info is not None)
    await pilot.press(key)
    view = screen.query_one(kind)
    await wait_until(pilot, lambda: view.result is not None and view.runner.idle)
    await pilot.pause()
    return screen, view


def _content(view) -> str:
    return str(view.query_one(f"#{view.PREFIX}-content", Static).render())


def _header(view) -> str:
    return str(view.query_one(f"#{view.PREFIX}-header", Static).render())


def _check_views(views: dict, model, tokenizer) -> None:
    """Every view's numbers against core's computation on the same weights."""
    head = views[HeadInsideView]
    inside = inside_head(model, tokenizer, head.text)
    assert head.result.q == pytest.approx(inside.q, abs=1e-5)
    assert head.result.projected == pytest.approx(inside.projected, abs=1e-5)
    knocked = views[KnockoutView]
    wanted = knockout(model, tokenizer, knocked.text, list(knocked.result.knocked.heads))
    assert knocked.result.knocked.knocked == pytest.approx(wanted.knocked, abs=1e-5)
    lens = views[LensView]
    layers = logit_lens(model, tokenizer, lens.text).layers
    for shown, layer in zip(lens.result.loaded.layers, layers, strict=True):
        assert shown.target_probs == pytest.approx(layer.target_probs, abs=1e-5)
    embeddings = views[EmbeddingView]
    table = embedding_lens(model, tokenizer, embeddings.text, 8, 48)
    shown = embeddings.result.loaded.neighbours[0][1]
    assert shown == pytest.approx(table.neighbours[0][1], abs=1e-5)


async def test_deep_views_show_the_checkpoint(tiny_app, tiny_checkpoint, wait_until):
    model, checkpoint = load_model(tiny_checkpoint)
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        views = {}
        for key, kind in VIEWS:
            screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
            assert view.result_source == screen.info.source
            assert _header(view).startswith(screen.info.source)
            views[kind] = view
        _check_views(views, model, checkpoint.tokenizer)
        content = _content(views[HeadInsideView])
        dim = model.config.head_dim
        assert f"[1, {dim}]" in content and "heads concatenated" in content
        assert f"{model.config.num_heads} heads concatenated" in content
        assert "W_proj" in content
        assert "total: Σ change" in _content(views[KnockoutView])
        assert "mean -log p" in _content(views[LensView])
        assert "position embeddings" in _content(views[EmbeddingView])


async def test_knockout_keys_pick_and_add_heads(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, view = await _open(tiny_app, pilot, wait_until, "k", KnockoutView)
        first = view.result.ranking[0][:2]
        assert view.result.knocked.heads == [first]
        await pilot.press("down")
        second = view.result.ranking[1][:2]
        await wait_until(pilot, lambda: view.result.knocked.heads == [second])
        await pilot.press("space", "up", "space")
        await wait_until(pilot, lambda: len(view.result.knocked.heads) == 2 and view.runner.idle)
        assert set(view.result.knocked.heads) == {first, second}
        await pilot.press("c")
        await wait_until(pilot, lambda: view.result.knocked.heads == [first] and view.runner.idle)


async def _beside_fresh(pilot, wait_until, view):
    """f on the view: the fresh init's lens computed beside the weights'."""
    await pilot.press("f")
    await wait_until(pilot, lambda: view.result.fresh is not None and view.runner.idle)
    await pilot.pause()


def _check_beside(views: dict, model, tokenizer) -> None:
    """Each lens's two sides against core's lens on the weights and on a fresh init of their
    shape."""
    fresh = fresh_model(model)
    lens = views[LensView].result
    wanted = logit_lens(model, tokenizer, views[LensView].text)
    assert lens.loaded.layers[-1].target_probs == pytest.approx(
        wanted.layers[-1].target_probs, abs=1e-5
    )
    wanted = logit_lens(fresh, tokenizer, views[LensView].text)
    for shown, layer in zip(lens.fresh.layers, wanted.layers, strict=True):
        assert shown.target_probs == pytest.approx(layer.target_probs, abs=1e-5)
    assert lens.fresh.layers[-1].mean_loss != pytest.approx(lens.loaded.layers[-1].mean_loss)
    table = embedding_lens(fresh, tokenizer, views[EmbeddingView].text, 8, 48)
    shown = views[EmbeddingView].result.fresh
    assert shown.positions[1][:8] == pytest.approx(table.positions[1][:8], abs=1e-5)
    assert shown.neighbours == [(t, pytest.approx(c, abs=1e-5)) for t, c in table.neighbours]


async def test_lenses_show_a_fresh_init_beside_the_weights_under_its_name(
    tiny_app, tiny_checkpoint, wait_until
):
    model, checkpoint = load_model(tiny_checkpoint)
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        views = {}
        for key, kind in LENSES:
            screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
            assert "f: beside a fresh init" in _header(view)
            await _beside_fresh(pilot, wait_until, view)
            assert "beside a fresh init, same shape" in _header(view)
            content = _content(view)
            seed = model.config.seed
            assert f"fresh init, same shape (seed {seed}, never trained)" in content
            assert content.index(screen.info.source) < content.index("fresh init, same shape")
            views[kind] = view
        _check_beside(views, model, checkpoint.tokenizer)
        await pilot.press("f")  # back to the weights alone
        lens = views[EmbeddingView]
        await wait_until(pilot, lambda: lens.result.fresh is None and lens.runner.idle)
        await pilot.pause()
        assert "fresh init, same shape" not in _content(lens)


@pytest.mark.parametrize("key,kind", LENSES)
async def test_lenses_beside_a_fresh_init_fit_an_80x24_terminal(tiny_app, wait_until, key, kind):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
        await _beside_fresh(pilot, wait_until, view)
        width = view.content_width()
        for line in (_header(view) + "\n" + _content(view)).splitlines():
            assert len(line) <= width, line


@pytest.mark.parametrize("key,kind", VIEWS)
async def test_deep_views_fit_an_80x24_terminal(tiny_app, wait_until, key, kind):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
        width = view.content_width()
        for line in (_header(view) + "\n" + _content(view)).splitlines():
            assert len(line) <= width, line
        assert view.query_one(f"#{view.PREFIX}-body").region.height > 3


async def test_deep_views_show_training_weights_and_forget_the_checkpoints(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        screen, lens = await _open(tiny_app, pilot, wait_until, "d", LensView)
        before = lens.result_source
        await pilot.press("1")
        async with training_weights(tiny_app, pilot, wait_until) as (snapshot, expected):
            await pilot.press("4")
            await wait_until(pilot, lambda: screen.info.source != before)
            # the checkpoint's numbers never stand under the run's name
            assert lens.result is None or lens.result_source == screen.info.source
            views = {}
            for key, kind in VIEWS:
                screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
                assert view.result_source == screen.info.source
                assert "training weights" in _header(view)
                views[kind] = view
            _check_views(views, expected.model, expected.tokenizer)
            for key, kind in LENSES:  # a fresh init of the run's shape and seed beside it
                screen, view = await _open(tiny_app, pilot, wait_until, key, kind)
                await _beside_fresh(pilot, wait_until, view)
            _check_beside(views, expected.model, expected.tokenizer)
