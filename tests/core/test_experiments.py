"""Design switches change exactly one behaviour; races are deterministic and report fairly."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core import PRESETS, GenerationSession, MiniGPT, SamplingConfig, UserError
from core.experiments import VARIANTS, bits_per_character, race, results_to_dict
from core.model import Embeddings, MultiHeadAttention, SingleHeadAttention, Transformer
from core.tokenizer import CharTokenizer
from core.variants import parse_variants


def _model(**changes) -> MiniGPT:
    torch.manual_seed(0)
    return MiniGPT(replace(PRESETS["tiny"], **changes), 20).eval()


def test_no_scale_scores_are_exactly_q_dot_k() -> None:
    head = SingleHeadAttention(16, 8, scale=False)
    x = torch.randn(1, 5, 16)  # (B, T, C)
    raw = head.query(x) @ head.key(x).transpose(-2, -1)  # (B, T, T)
    scores = head.scores(x)  # (B, T, T)
    lower = torch.ones(5, 5, dtype=torch.bool).tril()
    assert torch.equal(scores[0][lower], raw[0][lower])
    scaled = SingleHeadAttention(16, 8)
    scaled.load_state_dict(head.state_dict())
    torch.testing.assert_close(scaled.scores(x)[0][lower], raw[0][lower] / math.sqrt(8))


def test_mask_zero_rows_give_weight_to_the_future() -> None:
    head = SingleHeadAttention(16, 8, mask="zero")
    x = torch.randn(1, 6, 16)  # (B, T, C)
    _, weights = head(x, return_weights=True)  # (B, T, T)
    assert torch.all(weights[0].triu(diagonal=1)[:-1].sum(-1) > 0)
    _, causal = SingleHeadAttention(16, 8)(x, return_weights=True)
    assert torch.all(causal[0].triu(diagonal=1) == 0)


@pytest.mark.parametrize("mask", ["causal", "zero", "none"])
@pytest.mark.parametrize("scale", [True, False])
def test_fused_attention_matches_its_readable_heads_under_every_switch(mask, scale) -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 2, mask=mask, scale=scale).eval()
    x = torch.randn(2, 7, 16)  # (B, T, C)
    readable, _ = attention.per_head(x)  # (B, T, C)
    torch.testing.assert_close(attention(x), readable, atol=1e-5, rtol=1e-4)


def test_concat_embeddings_keep_the_model_width() -> None:
    embeddings = Embeddings(10, 8, 6, combine="concat")
    out = embeddings(torch.tensor([[3, 4]]))  # (B, T, C)
    assert out.shape == (1, 2, 8)
    torch.testing.assert_close(out[0, 1, :4], embeddings.token.weight[4])
    torch.testing.assert_close(out[0, 1, 4:], embeddings.position.weight[1])
    assert _model(embedding_combine="concat")(torch.tensor([[1, 2, 3]])).shape == (1, 3, 20)


def test_no_position_output_is_invariant_to_shifting_the_sequence() -> None:
    idx = torch.tensor([[1, 2, 3]])  # (B, T)
    blind = Embeddings(10, 8, 6, position=False)
    torch.testing.assert_close(blind(idx, start=0), blind(idx, start=3))
    seeing = Embeddings(10, 8, 6)
    assert not torch.allclose(seeing(idx, start=0), seeing(idx, start=3))


def test_no_position_one_layer_model_sees_a_bag_of_tokens() -> None:
    # one layer: the last position attends over the past as a set, so its order is invisible
    model = _model(position_embedding=False, num_layers=1)
    with torch.no_grad():
        first = model(torch.tensor([[1, 2, 3, 4, 9]]))[0, -1]  # (V,)
        shuffled = model(torch.tensor([[3, 4, 2, 1, 9]]))[0, -1]  # (V,)
    torch.testing.assert_close(first, shuffled, atol=1e-5, rtol=1e-4)
    baseline = _model(num_layers=1)
    with torch.no_grad():
        ordered = baseline(torch.tensor([[1, 2, 3, 4, 9]]))[0, -1]  # (V,)
        reordered = baseline(torch.tensor([[3, 4, 2, 1, 9]]))[0, -1]  # (V,)
    assert not torch.allclose(ordered, reordered, atol=1e-5)


def test_post_norm_block_ends_in_a_layer_norm() -> None:
    block = Transformer(replace(PRESETS["tiny"], norm_placement="post")).eval()
    out = block(torch.randn(2, 5, 32) * 3)  # (B, T, C)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(-1, unbiased=False), torch.ones(2, 5), atol=1e-3, rtol=0)


@pytest.mark.parametrize("residual", [True, False])
def test_residual_switch_keeps_or_drops_the_identity_path(residual: bool) -> None:
    block = Transformer(replace(PRESETS["tiny"], residual=residual)).eval()
    with torch.no_grad():
        block.attention.proj.weight.zero_()
        block.ffn.down.weight.zero_()
        block.ffn.down.bias.zero_()
    x = torch.randn(1, 4, 32)  # (B, T, C)
    expected = x if residual else torch.zeros_like(x)
    torch.testing.assert_close(block(x), expected)


def test_no_ffn_blocks_hold_attention_only() -> None:
    model = _model(feed_forward=False)
    assert all(block.ffn is None for block in model.blocks)
    assert not any(".ffn." in name for name, _ in model.named_parameters())
    assert model(torch.tensor([[1, 2]])).shape == (1, 2, 20)


def test_one_head_keeps_the_parameter_count() -> None:
    config = VARIANTS["one-head"].change(PRESETS["tiny"])
    assert config.num_heads == 1 and config.head_dim == config.embedding_dim
    assert _model(num_heads=1).num_parameters() == _model().num_parameters()


def test_sgd_switch_builds_plain_sgd(tiny_config, text) -> None:
    from core import TrainingSession

    session = TrainingSession(replace(tiny_config, optimizer="sgd"), text, "cpu")
    assert type(session.optimizer) is torch.optim.SGD
    assert session.train_step().step == 1


def test_switched_model_generates_the_same_greedy_text_with_and_without_cache() -> None:
    model = _model(position_embedding=False, norm_placement="post")
    tokenizer = CharTokenizer([chr(97 + i) for i in range(20)])
    texts = []
    for use_cache in (True, False):
        session = GenerationSession(model, tokenizer, SamplingConfig(temperature=0), 0, use_cache)
        texts.append("".join(step.text for step in session.stream("abc", 40)))
    assert texts[0] == texts[1]


def test_bits_per_character_by_hand() -> None:
    assert bits_per_character(2.0, 100, 250) == pytest.approx(2.0 * 100 / 250 / math.log(2))
    assert bits_per_character(math.log(2), 10, 10) == pytest.approx(1.0)


def test_unknown_variant_is_one_line() -> None:
    with pytest.raises(UserError, match="unknown variant nope"):
        parse_variants("mask-zero,nope")
    assert parse_variants("no-mask,baseline,no-mask") == ["baseline", "no-mask"]


def _race(text: str, variants: list[str], steps: int = 12) -> tuple:
    base = replace(PRESETS["tiny"], eval_batches=1)
    events = list(race(base, text, variants, steps, evaluations=3, block_steps=2))
    return events[-1]


def test_race_is_deterministic_and_interleaving_changes_no_curve(text) -> None:
    alone = _race(text, [])
    again = _race(text, [])
    beside = _race(text, ["no-scale"])
    losses = [[p.val_loss for p in result[0].curve] for result in (alone, again, beside)]
    assert losses[0] == losses[1] == losses[2]
    assert [p.step for p in alone[0].curve] == [0, 4, 8, 12]


def test_mask_zero_leak_shows_under_the_causal_mask(text) -> None:
    results = {r.name: r for r in _race(text, ["mask-zero"], steps=30)}
    leaky = results["mask-zero"]
    assert leaky.causal_val_loss > leaky.val_loss
    assert results["baseline"].causal_val_loss == results["baseline"].val_loss


def test_race_json_has_every_key(text) -> None:
    report = results_to_dict(_race(text, ["bpe"]), PRESETS["tiny"], 12)
    keys = {
        "name",
        "val_loss",
        "causal_val_loss",
        "val_bpc",
        "parameters",
        "ms_per_step",
        "tokens_per_second",
        "peak_memory_mb",
        "curve",
        "sample",
    }
    for variant in report["variants"]:
        assert keys <= set(variant)
        assert set(variant["curve"][0]) >= {"step", "seconds", "val_loss", "val_bpc"}


@pytest.mark.slow
def test_race_process_reports_progress_and_saves_the_race(tmp_path, text) -> None:
    from core.child.race_process import RaceFinished, RaceProcess
    from core.experiments import load_race
    from core.race_plan import variants_plan

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    base = replace(PRESETS["tiny"], eval_batches=1)
    plan = variants_plan(base, ["no-scale"], 6)
    process = RaceProcess(plan, tmp_path / "race", corpus, threads=1)
    process.start()
    events = []
    while process.finished is None:
        events.extend(process.poll(0.5))
    assert process.join(timeout=30)
    finished = events[-1]
    assert isinstance(finished, RaceFinished) and finished.error is None, finished
    assert {e.variant for e in events[:-1]} == {"baseline", "no-scale"}
    saved = load_race(tmp_path / "race")
    assert [v["name"] for v in saved["variants"]] == ["baseline", "no-scale"]


def test_a_race_stopped_before_its_first_block_still_reports(text) -> None:
    base = replace(PRESETS["tiny"], eval_batches=1)
    events = list(race(base, text, ["no-scale"], 12, stop=lambda: True))
    results = events[-1]
    assert [r.name for r in results] == ["baseline", "no-scale"]
    assert all(r.curve[-1].step == 0 and math.isnan(r.ms_per_step) for r in results)
