"""`minigpt export`: the shipped model in transformers, and one-line refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from core import PRESETS, MiniGPT, SamplingConfig, build_tokenizer, generate_text, load_model
from core import save_checkpoint as save
from tui.cli import main
from tui.paths import default_corpus, shipped_checkpoint

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (pip install -e '.[test]')"
)


def test_shipped_model_exports_and_round_trips(tmp_path, capsys) -> None:
    out = tmp_path / "hf"
    assert main(["export", "--checkpoint", str(shipped_checkpoint()), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "exported" in said and f"hf upload USER/NAME {out} ." in said
    ours, checkpoint = load_model(shipped_checkpoint())
    tokenizer = checkpoint.tokenizer
    theirs = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    with open(default_corpus(), encoding="utf-8") as corpus:
        excerpt = corpus.read(20_000)
    texts = [excerpt[start : start + 128] for start in (0, 5_000, 19_000)]
    for text in texts:
        assert hf_tokenizer(text)["input_ids"] == tokenizer.encode(text)
        assert hf_tokenizer.decode(tokenizer.encode(text)) == text
    batch = torch.tensor([tokenizer.encode(text) for text in texts])  # (3, 128)
    with torch.no_grad():
        torch.testing.assert_close(theirs(batch).logits, ours(batch), rtol=1e-5, atol=1e-5)
    prompt = "ROMEO:\n"
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=120)
    greedy = generate_text(ours, tokenizer, prompt, sampling)
    prompt_ids = torch.tensor([tokenizer.encode(prompt)])
    ids = theirs.generate(prompt_ids, do_sample=False, max_new_tokens=120)
    assert hf_tokenizer.decode(ids[0]) == greedy


def test_export_refuses_post_norm_in_one_line(tmp_path, text, capsys) -> None:
    config = replace(PRESETS["tiny"], norm_placement="post")
    tokenizer = build_tokenizer("char", text)
    save(tmp_path / "run", MiniGPT(config, tokenizer.vocab_size), tokenizer, config, step=0)
    code = main(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "hf")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "GPT-2 cannot express post-norm" in err and "Traceback" not in err


def test_export_config_asks_for_exact_gelu_and_an_untied_head(tmp_path) -> None:
    out = tmp_path / "hf"
    assert main(["export", "--checkpoint", str(shipped_checkpoint()), "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["activation_function"] == "gelu" and config["tie_word_embeddings"] is False
    assert config["model_type"] == "gpt2" and (out / "model.safetensors").is_file()
