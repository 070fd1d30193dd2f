"""`minigpt bench`: each bench runs on the tiny preset and emits its documented JSON keys."""

from __future__ import annotations

import json

from tui.cli import main

MACHINE_KEYS = {"torch", "device", "threads", "cpu_count", "load_average"}
TRAIN_KEYS = {
    "bench",
    "schema",
    "machine",
    "preset",
    "config",
    "untimed_steps",
    "steps",
    "block_steps",
    "matmul_peak_gflops",
    "results",
    "comparison",
    "peak_memory_mb",
}
TRAIN_RESULT_KEYS = {
    "name",
    "precision",
    "compile",
    "threads",
    "parameters",
    "flops_per_token",
    "tokens_per_step",
    "untimed_seconds",
    "ms_per_step_median",
    "ms_per_step_p90",
    "ms_per_step_min",
    "tokens_per_second",
    "achieved_gflops",
    "flop_utilisation",
    "precision_reason",
}
GENERATE_KEYS = {
    "bench",
    "schema",
    "machine",
    "source",
    "config",
    "parameters",
    "new_tokens",
    "prefill_ms",
    "token_by_token_ms",
    "prefill_speedup",
    "cached_tokens_per_second",
    "uncached_tokens_per_second",
    "cache_speedup",
    "cached_step_ms",
    "uncached_step_ms",
    "cached_forward_ms",
    "uncached_forward_ms",
    "latency",
    "latency_spread",
    "decode_layout",
    "weight_mb",
    "decode_ms",
    "streamed_gbs",
    "read_gbs",
    "floor_ms",
    "floor_ratio",
    "products_ms",
    "products_ratio",
    "weights",
    "formats",
    "quality_delta_bpc",
    "weights_step_ms",
    "weights_floor_ratio",
    "peak_memory_mb",
}
FAST_TRAIN = ["--preset", "tiny", "--steps", "3", "--untimed-steps", "1", "--peak-seconds", "0"]


def _bench_json(capsys, *argv: str) -> dict:
    assert main(["bench", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_train_emits_documented_keys(corpus, capsys) -> None:
    report = _bench_json(capsys, "train", *FAST_TRAIN, "--data", str(corpus))
    assert set(report) == TRAIN_KEYS
    assert set(report["machine"]) == MACHINE_KEYS
    assert [set(row) for row in report["results"]] == [TRAIN_RESULT_KEYS]
    assert report["bench"] == "train" and report["comparison"] is None
    assert report["matmul_peak_gflops"] is None


def test_bench_train_measures_the_matmul_peak(corpus, capsys) -> None:
    flags = [*FAST_TRAIN[:-1], "0.01", "--data", str(corpus)]
    report = _bench_json(capsys, "train", *flags)
    assert set(report["matmul_peak_gflops"]) == {"fp32", "bf16", "size"}
    assert report["results"][0]["flop_utilisation"] is not None


def test_bench_train_compare_reports_both_sides(corpus, capsys) -> None:
    flags = [*FAST_TRAIN, "--data", str(corpus), "--compare", "precision"]
    report = _bench_json(capsys, "train", *flags)
    assert [row["precision"] for row in report["results"]] == ["fp32", "bf16"]
    assert set(report["comparison"]) == {"what", "baseline", "variant", "speedup"}
    assert report["comparison"]["variant"] == "bf16"


def test_bench_train_compare_threads_takes_explicit_values(corpus, capsys) -> None:
    flags = [*FAST_TRAIN, "--data", str(corpus), "--compare", "threads=2,1"]
    report = _bench_json(capsys, "train", *flags)
    assert [row["threads"] for row in report["results"]] == [2, 1]


def test_bench_train_prints_a_table_by_default(corpus, capsys) -> None:
    assert main(["bench", "train", *FAST_TRAIN, "--data", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "train tiny" in out and "tokens/s" in out


def test_bench_rejects_an_unknown_comparison(corpus, capsys) -> None:
    code = main(["bench", "train", *FAST_TRAIN, "--data", str(corpus), "--compare", "batch"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--compare takes precision, compile, threads" in err


def test_bench_generate_emits_documented_keys(corpus, capsys) -> None:
    flags = ["--preset", "tiny", "--new-tokens", "5", "--repeat-seconds", "0"]
    report = _bench_json(capsys, "generate", *flags, "--data", str(corpus))
    assert set(report) == GENERATE_KEYS
    assert set(report["machine"]) == MACHINE_KEYS
    assert report["source"] == "preset:tiny" and report["new_tokens"] == 5
    assert all(set(x) == {"position", "cached_ms", "uncached_ms"} for x in report["latency"])
    # every format timed and judged on the validation split; auto keeps within the bound
    formats = {x["weights"]: x for x in report["formats"]}
    assert formats.keys() <= {"fp32", "bf16", "int8"} and "fp32" in formats
    assert formats["fp32"]["quality_delta_bpc"] == 0.0
    assert report["weights"] in formats and report["quality_delta_bpc"] <= 0.01
    if "int8" in formats:  # a byte per weight and a scale per row, against four bytes
        assert formats["int8"]["weight_mb"] < formats["fp32"]["weight_mb"] / 2


def test_bench_generate_rejects_a_checkpoint_with_a_preset(tmp_path, capsys) -> None:
    code = main(["bench", "generate", "--checkpoint", str(tmp_path), "--preset", "tiny"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--checkpoint fixes the model; drop --preset tiny" in err


STUDIO_KEYS = {
    "bench",
    "schema",
    "machine",
    "preset",
    "seconds",
    "rounds",
    "views",
    "window",
    "cli_threads",
    "cli_tokens_per_second",
    "cli_steps",
    "studio_tokens_per_second",
    "throughput_ratio",
    "studio_tokens_per_second_typing",
    "throughput_ratio_typing",
    "studio_threads",
    "studio_steps",
    "ui_cpu_share",
    "first_step_seconds",
    "stop_seconds",
    "key_latency_idle_ms",
    "key_latency_training_ms",
    "peak_memory_mb",
    "screen_first_drawn_ms",
    "screen_first_visit_ms",
    "screen_second_drawn_ms",
    "screen_second_visit_ms",
}
LATENCY_KEYS = {"median", "p90", "max", "count", "timeouts"}


def test_bench_studio_with_views_open_emits_documented_keys(corpus, capsys) -> None:
    flags = ["--preset", "tiny", "--seconds", "0.5", "--presses", "2", "--rounds", "1"]
    flags += ["--views", "--threads", "1", "--data", str(corpus)]
    report = _bench_json(capsys, "studio", *flags)
    assert set(report) == STUDIO_KEYS and report["window"] == "evaluation interval"
    latency = report["key_latency_training_ms"]
    assert set(latency) == LATENCY_KEYS and latency["count"] + latency["timeouts"] == 2
    assert report["studio_threads"] == 1 and report["cli_threads"] == 1
    # one round: one evaluation interval of steps on each side (tiny evaluates every 20)
    assert report["studio_steps"] >= 20 and report["cli_steps"] >= 20
    screens = {"train", "generate", "chat", "model", "experiments", "runs", "help"}
    assert set(report["screen_first_visit_ms"]) == set(report["screen_first_drawn_ms"]) == screens
    # the first frame comes before the screen settles
    assert all(
        0 < drawn <= report["screen_first_visit_ms"][name]
        for name, drawn in report["screen_first_drawn_ms"].items()
    )
    assert all(ms > 0 for ms in report["screen_second_visit_ms"].values())


QUALITY_KEYS = {
    "bench",
    "schema",
    "machine",
    "preset",
    "config",
    "target",
    "eval_every",
    "eval_tokens",
    "setup_seconds",
    "reached_step",
    "reached_seconds",
    "curve",
    "reference",
    "reference_ratio",
}


def test_bench_quality_emits_documented_keys(corpus, capsys) -> None:
    flags = ["--preset", "tiny", "--steps", "10", "--eval-every", "5", "--target", "0.5"]
    flags += ["--eval-tokens", "500"]
    report = _bench_json(capsys, "quality", *flags, "--data", str(corpus))
    assert set(report) == QUALITY_KEYS
    assert [point["step"] for point in report["curve"]] == [5, 10]  # never reached: to the end
    assert report["reached_step"] is None and report["reached_seconds"] is None
    assert all(set(point) == {"step", "seconds", "val_loss"} for point in report["curve"])


def test_bench_quality_reference_times_a_whole_fp32_run_and_gives_the_ratio(corpus, capsys) -> None:
    flags = ["--preset", "tiny", "--steps", "10", "--eval-every", "5", "--target", "99"]
    flags += ["--eval-tokens", "500", "--reference", "tiny"]
    report = _bench_json(capsys, "quality", *flags, "--data", str(corpus))
    reference = report["reference"]
    assert reference["preset"] == "tiny" and reference["precision"] == "fp32"
    assert reference["steps"] == 40  # tiny's whole schedule, not --steps
    assert report["reached_step"] == 5
    expected = report["reached_seconds"] / reference["seconds"]
    assert abs(report["reference_ratio"] - expected) < 1e-9


def test_bench_scenarios_tabulates_each_verdict(corpus, capsys) -> None:
    # the doubled-letters scenario generates its own text: the quickest real scenario
    report = _bench_json(
        capsys, "scenarios", "--scenario", "no-position", "--seeds", "1", "--data", str(corpus)
    )
    assert report["bench"] == "scenarios" and report["threads"] == 1
    (run,) = report["runs"]
    assert run["scenario"] == "no-position" and run["corpus"] == "pairs"
    assert {"arm", "reference", "outcome", "margin", "noise", "expect", "line"} <= set(
        run["verdicts"][0]
    )
    assert [v["name"] for v in run["variants"]] == ["baseline", "no-position"]
