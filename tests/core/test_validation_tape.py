"""The prediction tape of a validation chunk: the run's own split, and its mean is the loss."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    CharTokenizer,
    MiniGPT,
    ValidationChunks,
    cross_entropy_for_logits,
    prediction_tape_of_ids,
    split_ids,
)

TEXT = "To be, or not to be: that is the question. Whether 'tis nobler in the mind to suffer. " * 4
CONFIG = replace(PRESETS["tiny"], block_size=16)


def _model_and_tokenizer() -> tuple[MiniGPT, CharTokenizer]:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    return MiniGPT(CONFIG, tokenizer.vocab_size).eval(), tokenizer


def test_validation_chunks_come_from_the_split_training_validates_on() -> None:
    _, tokenizer = _model_and_tokenizer()
    chunks = ValidationChunks(tokenizer, TEXT, CONFIG.block_size)
    _, validation = split_ids(tokenizer.encode(TEXT), CONFIG.block_size)
    for index in range(len(chunks)):
        start = index * (CONFIG.block_size + 1)
        assert chunks.chunk(index) == validation.ids[start : start + CONFIG.block_size + 1].tolist()
    assert chunks.chunk(len(chunks)) == chunks.chunk(0)  # the index wraps around


def test_validation_tape_mean_equals_cross_entropy_on_the_same_chunk() -> None:
    model, tokenizer = _model_and_tokenizer()
    ids = ValidationChunks(tokenizer, TEXT, CONFIG.block_size).chunk(1)
    tape = prediction_tape_of_ids(model, tokenizer, ids)
    chunk = torch.tensor([ids])  # (1, T + 1)
    with torch.no_grad():
        expected = cross_entropy_for_logits(model(chunk[:, :-1]), chunk[:, 1:])
    assert len(tape.losses) == CONFIG.block_size
    assert tape.mean_loss == pytest.approx(float(expected), rel=1e-6)
    assert sum(tape.losses) / len(tape.losses) == pytest.approx(float(expected), rel=1e-5)
