"""Config and SamplingConfig refuse bad values with a message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core import PRESETS, SamplingConfig, preset


def test_seed_preset_is_the_reference_size() -> None:
    seed = PRESETS["seed"]
    assert (seed.embedding_dim, seed.num_heads, seed.hidden_dim, seed.num_layers) == (
        512,
        8,
        2048,
        6,
    )
    assert seed.block_size == 256 and seed.head_dim == 64


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="tiny"):
        preset("huge")


@pytest.mark.parametrize(
    "field, value",
    [("max_steps", 0), ("batch_size", -1), ("learning_rate", 0.0), ("num_heads", 3)],
)
def test_bad_config_values_are_refused(field: str, value) -> None:
    with pytest.raises(ValueError, match=field.split("_")[0]):
        replace(PRESETS["tiny"], **{field: value})


@pytest.mark.parametrize(
    "field, value",
    [("temperature", -0.5), ("top_k", 0), ("top_p", 0.0), ("top_p", 1.5), ("min_p", 1.0)],
)
def test_bad_sampling_values_are_refused(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        SamplingConfig(**{field: value})
