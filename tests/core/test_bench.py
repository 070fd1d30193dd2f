"""Benchmark measurements: interleaved training variants, generation latency, helpers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core import CharTokenizer, TrainingSession
from core.bench import (
    TrainVariant,
    bench_generation,
    bench_time_to_quality,
    bench_training,
    default_positions,
    matmul_peak_gflops,
    percentile,
    untrained_model,
)


def test_training_bench_times_every_variant_for_the_same_steps(tiny_config, text) -> None:
    variants = [TrainVariant("one", tiny_config, threads=1), TrainVariant("two", tiny_config, 2)]
    results = bench_training(variants, text, steps=7, untimed_steps=1, block_steps=3)
    assert [r.name for r in results] == ["one", "two"]
    assert [len(r.step_seconds) for r in results] == [7, 7]
    assert [r.threads for r in results] == [1, 2]
    assert all(
        r.tokens_per_step == tiny_config.batch_size * tiny_config.block_size for r in results
    )


def test_training_bench_restores_the_thread_count(tiny_config, text) -> None:
    before = torch.get_num_threads()
    bench_training([TrainVariant("one", tiny_config, threads=1)], text, steps=2, untimed_steps=0)
    assert torch.get_num_threads() == before


def test_training_bench_never_evaluates(tiny_config, text, monkeypatch) -> None:
    def evaluate(self) -> float:
        raise AssertionError("an evaluation ran inside the timed steps")

    monkeypatch.setattr(TrainingSession, "evaluate", evaluate)
    config = replace(tiny_config, max_steps=3, eval_interval=1)
    results = bench_training([TrainVariant("short", config)], text, steps=4, untimed_steps=1)
    assert len(results[0].step_seconds) == 4


def test_training_bench_reports_bf16_precision(tiny_config, text) -> None:
    config = replace(tiny_config, precision="bf16")
    (result,) = bench_training([TrainVariant("bf16", config)], text, steps=1, untimed_steps=0)
    assert result.precision == "bf16"


def test_generation_bench_measures_each_position(tiny_config, text) -> None:
    tokenizer = CharTokenizer.from_text(text)
    model = untrained_model(tiny_config, tokenizer.vocab_size)
    result = bench_generation(model, tokenizer, new_tokens=20, seconds=0.0)
    positions = [latency.position for latency in result.latencies]
    assert positions == default_positions(tiny_config.block_size)
    assert result.new_tokens == 20 and result.block_size == tiny_config.block_size


def test_default_positions_stay_inside_the_block() -> None:
    assert default_positions(64) == [8, 16, 32, 63]
    assert default_positions(8) == [2, 4, 7]


def test_percentile_interpolates_between_values() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)


def test_matmul_peak_rejects_an_unknown_precision() -> None:
    with pytest.raises(ValueError, match="fp32 or bf16"):
        matmul_peak_gflops("fp16", seconds=0.0, size=8)


def test_time_to_quality_stops_at_the_first_point_below_the_target(tiny_config, text) -> None:
    config = replace(tiny_config, max_steps=40, eval_interval=20)
    result = bench_time_to_quality(config, text, target=99.0, eval_every=4, max_seconds=60)
    assert [point.step for point in result.curve] == [4]
    assert result.reached == result.curve[0]


def test_time_to_quality_curve_runs_forward_in_steps_and_seconds(tiny_config, text) -> None:
    config = replace(tiny_config, max_steps=10, eval_interval=6)
    result = bench_time_to_quality(
        config, text, target=0.1, eval_every=4, max_seconds=60, eval_tokens=1000
    )
    assert [point.step for point in result.curve] == [4, 8, 10]  # and the run's last step
    seconds = [point.seconds for point in result.curve]
    assert seconds == sorted(seconds) and result.reached is None


def test_reference_trains_its_whole_schedule_in_turns_with_the_measured_run(
    tiny_config, text
) -> None:
    reference = replace(tiny_config, max_steps=30, eval_interval=10, precision="fp32")
    result = bench_time_to_quality(
        replace(tiny_config, max_steps=40),
        text,
        target=0.1,
        eval_every=10,
        max_seconds=60,
        eval_tokens=500,
        reference=reference,
        slice_seconds=0.01,  # many turns
    )
    assert [point.step for point in result.curve] == [10, 20, 30, 40]
    run = result.reference
    assert run is not None and run.steps == 30 and run.seconds > 0
    # taking turns changes nothing in either run: the same last evaluation as a run alone
    alone = TrainingSession(reference, text)
    assert run.val_loss == list(alone.steps())[-1].val_loss
