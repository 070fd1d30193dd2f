"""The precision choice: as asked, by the CPU's instructions, or measured and cached."""

from __future__ import annotations

from dataclasses import replace

import torch

from core import PRESETS
from core.fast import precision as precision_module
from core.fast.precision import choose_precision


def test_explicit_precision_is_kept() -> None:
    cpu = torch.device("cpu")
    assert choose_precision(replace(PRESETS["tiny"], precision="fp32"), 30, cpu).dtype is None
    choice = choose_precision(replace(PRESETS["tiny"], precision="bf16"), 30, cpu)
    assert choice.dtype is torch.bfloat16 and "as asked" in choice.reason


def test_cpu_without_bf16_instructions_trains_in_fp32(monkeypatch) -> None:
    monkeypatch.setattr(precision_module, "bf16_instructions", lambda: None)
    choice = choose_precision(PRESETS["recipe"], 65, torch.device("cpu"))
    assert choice.dtype is None and "no bf16" in choice.reason


def test_measured_choice_is_cached_and_reused(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision_module, "bf16_instructions", lambda: "AVX512-BF16")
    monkeypatch.setattr(precision_module, "_this_process", {})
    monkeypatch.setattr(precision_module, "_machine_is_quiet", lambda: True)
    calls = []
    monkeypatch.setattr(precision_module, "calibrate", lambda c, v: calls.append(c) or 1.5)
    config = PRESETS["recipe"]
    first = choose_precision(config, 65, torch.device("cpu"))
    monkeypatch.setattr(precision_module, "_this_process", {})  # a new process: from the file
    second = choose_precision(config, 65, torch.device("cpu"))
    assert first.dtype is second.dtype is torch.bfloat16
    assert len(calls) == 1 and "cached" in second.reason
    third = choose_precision(config, 65, torch.device("cpu"), recalibrate=True)
    assert len(calls) == 2 and "just now" in third.reason


def test_calibration_compares_real_steps_and_leaves_the_rng_alone() -> None:
    state = torch.get_rng_state()
    ratio = precision_module.calibrate(replace(PRESETS["tiny"], batch_size=2), 30, seconds=0.1)
    assert ratio > 0
    assert torch.equal(torch.get_rng_state(), state)
