"""The Training X-ray: per-layer plain values on evaluation steps, and nothing on the others."""

from __future__ import annotations

import pickle
from dataclasses import replace

import torch

from core import StepMetrics, TrainingSession, TrainingXray, read_metrics
from core.checkpoint.run_folder import METRICS_FILE


def _run(config, text, out_dir=None) -> list[StepMetrics]:
    return list(TrainingSession(config, text, "cpu", out_dir).steps())


def test_xray_is_set_exactly_on_eval_steps(text, tiny_config) -> None:
    config = replace(tiny_config, max_steps=25, eval_interval=10)
    steps = _run(config, text)
    assert [m.step for m in steps if m.xray is not None] == [10, 20, 25]
    assert all((m.xray is None) == (m.val_loss is None) for m in steps)


def test_xray_shapes_match_layers_heads_and_probe(text, tiny_config) -> None:
    config = replace(tiny_config, max_steps=1, eval_interval=1)
    xray = _run(config, text)[-1].xray
    layers, heads, probe = config.num_layers, config.num_heads, config.block_size
    assert isinstance(xray, TrainingXray)
    assert len(xray.grad_norms) == len(xray.update_ratios) == len(xray.residual_norms) == layers
    assert len(xray.probe_tokens) == probe
    assert all(isinstance(token, str) for token in xray.probe_tokens)
    assert len(xray.attention) == layers
    for layer in xray.attention:
        assert len(layer) == heads
        for head in layer:
            assert len(head) == probe and all(len(row) == probe for row in head)
            assert abs(sum(head[-1]) - 1.0) < 1e-4
    assert pickle.loads(pickle.dumps(xray)) == xray  # it crosses the child's queue


def test_update_ratio_is_weight_change_over_weight_norm(text, tiny_config) -> None:
    config = replace(tiny_config, max_steps=1, eval_interval=1)
    session = TrainingSession(config, text, "cpu")
    before = [[p.detach().clone() for p in block.parameters()] for block in session.model.blocks]
    xray = list(session.steps())[-1].xray
    for layer, block in enumerate(session.model.blocks):
        pairs = zip(block.parameters(), before[layer], strict=True)
        delta = torch.sqrt(sum(((a.detach() - b) ** 2).sum() for a, b in pairs))
        weight = torch.sqrt(sum((b**2).sum() for b in before[layer]))
        assert abs(xray.update_ratios[layer] - (delta / weight).item()) < 1e-6
        assert xray.update_ratios[layer] > 0


def test_grad_norms_are_pre_clip_per_layer(text, tiny_config) -> None:
    config = replace(tiny_config, max_steps=1, eval_interval=1, grad_clip=1e-6)
    metrics = _run(config, text)[-1]
    assert metrics.clipped
    assert all(norm > 1e-6 for norm in metrics.xray.grad_norms)
    assert sum(n**2 for n in metrics.xray.grad_norms) <= metrics.grad_norm**2 + 1e-6


def test_metrics_log_stays_readable_without_the_xray(tmp_path, text, tiny_config) -> None:
    config = replace(tiny_config, max_steps=20, eval_interval=10)
    _run(config, text, tmp_path / "run")
    steps, _, _ = read_metrics(tmp_path / "run" / METRICS_FILE)
    assert [m.step for m in steps] == list(range(1, 21))
    assert [m.step for m in steps if m.val_loss is not None] == [10, 20]
    assert all(m.xray is None for m in steps)
    assert len((tmp_path / "run" / METRICS_FILE).read_text()) < 20 * 1000


def test_a_deep_model_keeps_maps_of_a_few_layers_spread_from_first_to_last(
    text, tiny_config
) -> None:
    from core import attention_maps
    from core.xray.training import MAP_LAYERS, mapped_layers

    assert mapped_layers(3) == (0, 1, 2)
    assert mapped_layers(1025) == (0, 146, 293, 439, 585, 731, 878, 1024)
    config = replace(tiny_config, num_layers=12, max_steps=1, eval_interval=1)
    session = TrainingSession(config, text, "cpu")
    xray = list(session.steps())[-1].xray
    assert len(xray.grad_norms) == len(xray.residual_norms) == 12  # the cheap readings: all
    assert len(xray.attention) == MAP_LAYERS
    assert xray.attention_layers[0] == 0 and xray.attention_layers[-1] == 11
    assert xray.attention_layer(MAP_LAYERS - 1) == 11
    probe = session.xray.probe_ids[: config.block_size]
    by_hand = attention_maps(session.model, probe, 11)  # the map's own forward, as before
    kept = xray.attention[-1]
    assert all(
        abs(a - b) < 1e-5
        for head, head_by_hand in zip(kept, by_hand, strict=True)
        for row, row_by_hand in zip(head, head_by_hand, strict=True)
        for a, b in zip(row, row_by_hand, strict=True)
    )
