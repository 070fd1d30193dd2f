"""The Model screen: the real shapes and parameter counts of the loaded checkpoint."""

from __future__ import annotations

from core import load_checkpoint
from tui.studio.screens.model import ModelScreen


async def test_model_screen_shows_the_shape_journey_of_the_checkpoint(
    tiny_app, tiny_checkpoint, wait_until
):
    config = load_checkpoint(tiny_checkpoint, with_state=False).config
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        screen = tiny_app.screen
        assert isinstance(screen, ModelScreen)
        await wait_until(pilot, lambda: screen.attention is not None)
        B, T, C = config.batch_size, config.block_size, config.embedding_dim  # noqa: N806
        journey = {stage.stage: stage.shape for stage in screen.stages}
        assert journey["input ids"] == (B, T)
        assert journey["Embeddings"] == (B, T, C)
        assert journey["SingleHeadAttention"] == (B, T, config.head_dim)
        assert journey["MultiHeadAttention"] == (B, T, C)
        assert journey["MiniGPT (logits)"] == (B, T, screen.info.vocab_size)
        assert screen.parameters[-1] == ("total", screen.info.num_parameters)


async def test_attention_rows_are_causal_and_sum_to_one(tiny_app, wait_until):
    async with tiny_app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        screen = tiny_app.screen
        await wait_until(pilot, lambda: screen.attention is not None)
        await pilot.press("l")
        await wait_until(pilot, lambda: screen.attention.layer == 1)
        for head in screen.attention.maps:
            for query, row in enumerate(head):
                assert abs(sum(row) - 1) < 1e-4
                assert all(weight == 0 for weight in row[query + 1 :])
