"""The prediction tape of a validation chunk on the Train screen: computed on a copy of the
weights, its mean -log p is the loss of that chunk of the run's validation split."""

from __future__ import annotations

import pytest
import torch
from textual.widgets import Static

from core import (
    PRESETS,
    CharTokenizer,
    ValidationChunks,
    cross_entropy_for_logits,
    load_model,
)
from tui.studio.widgets.train.validation_tape import ValidationTapeView


async def test_tape_of_a_trained_run_shows_every_position_and_the_chunk_loss(
    tiny_app, studio_corpus, wait_until
):
    block_size = PRESETS["tiny"].block_size
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        await pilot.press("e")
        tape_view = train.query_one(ValidationTapeView)
        final = PRESETS["tiny"].max_steps
        await wait_until(
            pilot, lambda: tape_view.shown is not None and tape_view.shown.step == final
        )
        assert tape_view.display and not train.query_one("#train-plots").display
        tape = tape_view.shown.tape
        assert len(tape.losses) == block_size
        header = tape_view.query_one("#validation-tape-header", Static).render().plain
        assert f"mean -log p = {tape.mean_loss:.4f} = this chunk's loss" in header
        rows = tape_view.query_one("#validation-tape-rows", Static).render().plain
        assert str(block_size - 1) in rows.split("position")[-1]  # the last position is shown

        model, checkpoint = load_model(train.finished.checkpoint)
        tokenizer = CharTokenizer.from_text(studio_corpus)
        ids = ValidationChunks(tokenizer, studio_corpus, block_size).chunk(0)
        chunk = torch.tensor([ids])  # (1, T + 1)
        with torch.no_grad():
            loss = cross_entropy_for_logits(model(chunk[:, :-1]), chunk[:, 1:])
        assert checkpoint.tokenizer.to_dict() == tokenizer.to_dict()
        assert tape.mean_loss == pytest.approx(float(loss), rel=1e-5)


async def test_tape_key_picks_another_validation_chunk(tiny_app, wait_until):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        train = tiny_app.train_screen
        await pilot.press("t")
        await wait_until(pilot, lambda: train.done)
        await pilot.press("e")
        tape_view = train.query_one(ValidationTapeView)
        await wait_until(pilot, lambda: tape_view.shown is not None)
        first = tape_view.shown
        assert train.focused is tape_view
        await pilot.press("c")
        await wait_until(pilot, lambda: tape_view.shown is not first)
        assert tape_view.shown.chunk == (first.chunk + 1) % first.chunks
        assert tape_view.shown.tape.inputs != first.tape.inputs
