"""The transformers export: the GPT-2 it writes computes what MiniGPT computes (logits, ids,
greedy text), for the reference design, the switches GPT-2 can express, and BPE."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core import (
    PRESETS,
    MiniGPT,
    SamplingConfig,
    UserError,
    build_tokenizer,
    export_to_transformers,
    generate_text,
    load_model,
    save_checkpoint,
)

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (pip install -e '.[test]')"
)

CONFIG = replace(PRESETS["tiny"], block_size=32, embedding_dim=32, num_heads=4, num_layers=2)


def _checkpoint(folder: Path, text: str, config=CONFIG, steps: int = 0) -> Path:
    """A checkpoint of `config` on `text`: trained `steps` steps, else fresh weights."""
    if steps:
        from core import TrainingSession

        session = TrainingSession(replace(config, max_steps=steps), text, "cpu", folder)
        for _ in session.steps():
            pass
        return folder
    tokenizer = build_tokenizer(config.tokenizer, text, config.bpe_vocab_size)
    model = MiniGPT(config, tokenizer.vocab_size)
    save_checkpoint(folder, model, tokenizer, config, step=0)
    return folder


def _load_exported(folder: Path):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    return model, transformers.AutoTokenizer.from_pretrained(folder)


def assert_round_trip(checkpoint: Path, out: Path, texts: list[str], prompt: str) -> None:
    """Same logits on a batch, same ids both ways, same greedy continuation."""
    export_to_transformers(checkpoint, out)
    ours, loaded = load_model(checkpoint)
    theirs, hf_tokenizer = _load_exported(out)
    tokenizer = loaded.tokenizer
    for text in texts:
        ids = tokenizer.encode(text)
        assert hf_tokenizer(text)["input_ids"] == ids
        assert hf_tokenizer.decode(ids) == tokenizer.decode(ids)
    length = min(len(tokenizer.encode(text)) for text in texts)
    batch = torch.tensor([tokenizer.encode(text)[:length] for text in texts])  # (B, T)
    with torch.no_grad():
        torch.testing.assert_close(theirs(batch).logits, ours(batch), rtol=1e-5, atol=1e-5)
    room = loaded.config.block_size - len(tokenizer.encode(prompt))
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=room)
    greedy = generate_text(ours, tokenizer, prompt, sampling)
    prompt_ids = torch.tensor([tokenizer.encode(prompt)])
    generated = theirs.generate(prompt_ids, do_sample=False, max_new_tokens=room)
    assert hf_tokenizer.decode(generated[0]) == greedy


TEXTS = ["First Citizen:\nBefore we", "All:\nSpeak, speak. Resolved"]


def test_char_model_round_trips_through_transformers(tmp_path, text) -> None:
    checkpoint = _checkpoint(tmp_path / "run", text, steps=40)
    assert_round_trip(checkpoint, tmp_path / "hf", TEXTS, "All:\n")


def test_bpe_model_round_trips_through_transformers(tmp_path, text) -> None:
    config = replace(CONFIG, tokenizer="bpe", bpe_vocab_size=300)
    checkpoint = _checkpoint(tmp_path / "run", text, config, steps=40)
    assert_round_trip(checkpoint, tmp_path / "hf", [*TEXTS, "Speak, speak. 😀 é"], "All:\n")


@pytest.mark.parametrize(
    "switch",
    [
        {"attention_scale": False},
        {"feed_forward": False},
        {"position_embedding": False},
        {"embedding_combine": "concat"},
    ],
    ids=lambda switch: next(iter(switch)),
)
def test_switches_gpt2_can_express_give_the_same_logits(tmp_path, text, switch) -> None:
    checkpoint = _checkpoint(tmp_path / "run", text, replace(CONFIG, **switch))
    assert_round_trip(checkpoint, tmp_path / "hf", TEXTS, "All:\n")


@pytest.mark.parametrize(
    "switch",
    [{"norm_placement": "post"}, {"residual": False}, {"attention_mask": "zero"}],
    ids=lambda switch: next(iter(switch)),
)
def test_designs_gpt2_cannot_express_are_refused_in_one_line(tmp_path, text, switch) -> None:
    checkpoint = _checkpoint(tmp_path / "run", text, replace(CONFIG, **switch))
    with pytest.raises(UserError, match="GPT-2 cannot express") as caught:
        export_to_transformers(checkpoint, tmp_path / "hf")
    assert len(str(caught.value).splitlines()) == 1
    assert not (tmp_path / "hf").exists()


def test_export_never_writes_into_a_folder_with_files(tmp_path, text) -> None:
    checkpoint = _checkpoint(tmp_path / "run", text)
    out = tmp_path / "hf"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="choose another --out"):
        export_to_transformers(checkpoint, out)
    assert [path.name for path in out.iterdir()] == ["mine.txt"]


def test_exported_char_tokenizer_splits_every_character_alone(tmp_path) -> None:
    odd = "a\r\n\tb \u00a0\u2028é\u0301😀\x00z"  # line ends, spaces, combining marks, NUL
    checkpoint = _checkpoint(tmp_path / "run", odd * 4)
    export_to_transformers(checkpoint, tmp_path / "hf")
    tokenizer = load_model(checkpoint)[1].tokenizer
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tokenizer(odd)["input_ids"] == tokenizer.encode(odd)
    assert hf_tokenizer.decode(tokenizer.encode(odd)) == odd
