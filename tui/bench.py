"""`minigpt bench train|generate|studio`: speed measurements as a table or stable JSON.

JSON output (`--json`) has these keys; times are wall-clock, rates per second, memory in MiB.

Every bench: `bench` ("train", "generate" or "studio"), `schema` (1; raised when a key changes
meaning), `machine`: {`torch`, `device`, `threads` (torch intra-op threads), `cpu_count`,
`load_average` (1-minute load before the run; results under load are slower and noisier)},
`peak_memory_mb` (process RSS high-water mark; torch's allocator peak on CUDA).

`bench train`: `preset`, `config` {`block_size`, `embedding_dim`, `num_heads`, `num_layers`,
`hidden_dim`, `batch_size`, `dropout`, `tokenizer`, `vocab_size`}, `untimed_steps` (warm-up),
`steps` (timed steps per variant), `block_steps` (steps per interleaved block),
`matmul_peak_gflops` {`fp32`, `bf16`, `size`} (2048x2048 matmuls with the bench's threads; null
with --peak-seconds 0), and `results`: one entry per variant with `name`, `precision`
(fp32|bf16), `compile`, `threads`, `parameters`, `flops_per_token` (forward + backward),
`tokens_per_step`, `untimed_seconds` (the warm-up, compilation included), `ms_per_step_median`,
`ms_per_step_p90`, `ms_per_step_min`, `tokens_per_second` (tokens per step / median step time),
`achieved_gflops`, `flop_utilisation` (achieved / the peak of its precision; null without one).
`comparison`: null, or with --compare {`what`, `baseline`, `variant`, `speedup`}: the baseline's
median ms/step over the variant's (above 1: the variant is faster).

`bench quality`: `preset`, `config` (every field of the Config trained), `target`,
`eval_every`, `eval_tokens` (held-out tokens per curve point), `setup_seconds` (building the
session), `reached_step` / `reached_seconds` (the first curve point at or below the target;
null if never), `curve`: a list of {`step`, `seconds`, `val_loss`}; seconds are wall time since
the session was built, including the run's own evaluations and samples and excluding the
curve's.

`bench generate`: `source` ("preset:NAME" or the checkpoint folder), `config` {`block_size`,
`embedding_dim`, `num_heads`, `num_layers`, `hidden_dim`, `vocab_size`}, `parameters`,
`new_tokens`, `prefill_ms` (one forward over a full block), `token_by_token_ms` (the same block
fed one token at a time through the KV cache), `prefill_speedup` (their ratio),
`cached_tokens_per_second` / `uncached_tokens_per_second` (whole `GenerationSession.stream`
runs, sampling and window slides included), `cache_speedup` (their ratio), `cached_step_ms` /
`uncached_step_ms` (median wall time of one step in those runs, sampling included),
`cached_forward_ms` / `uncached_forward_ms` (median forward pass per step), `latency`: a list of
{`position`, `cached_ms`, `uncached_ms`} (one token's forward with `position` tokens before it),
and `latency_spread` (slowest over fastest cached latency; 1.0 is perfectly flat).

`bench studio`: `preset`, `seconds` (each measuring window), `cli_threads` / `studio_threads`
(the studio trains in a child process with every core unless --threads is given),
`cli_tokens_per_second` (the CLI's loop in this process, mean of a run before and one after the
studio), `cli_tokens_per_second_before` / `_after`, `studio_tokens_per_second` and
`studio_steps` (a first window of training with nobody typing, from the studio's StepMetrics),
`throughput_ratio` (studio / CLI), `ui_cpu_share` (CPU time of the studio's own process, all
its threads, over that window's wall time: 1.0 is one core), `studio_tokens_per_second_typing`
and `throughput_ratio_typing` (the second window, while the keys are pressed),
`first_step_seconds` (key t to the first step on screen), `stop_seconds` (key x to the saved,
finished run), and `key_latency_idle_ms` / `key_latency_training_ms`: {`median`, `p90`, `max`,
`count`, `timeouts`}, the time from `pilot.press("tab")` until the focus has moved (before
training, and in the second window).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, replace

from tui.cli import (
    UsageError,
    add_model_flags,
    config_from_args,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from tui.paths import default_corpus

SCHEMA = 1
COMPARISONS = {
    # --compare NAME -> the two values compared when none are given
    "precision": ("fp32", "bf16"),
    "compile": ("off", "on"),
    "threads": ("1", str(os.cpu_count() or 1)),
}


def _add_data_and_json(
    parser: argparse.ArgumentParser,
    data_help: str = "UTF-8 text file (default: the shipped Shakespeare)",
) -> None:
    parser.add_argument("--data", help=data_help)
    parser.add_argument("--json", action="store_true", help="print JSON (keys: minigpt bench -h)")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__
    sub = parser.add_subparsers(
        dest="what", required=True, metavar="{train,quality,generate,studio}"
    )

    train = sub.add_parser(
        "train",
        help="training tokens/s, ms/step, FLOP utilisation and memory",
        description="Time steady-state training steps of the real TrainingSession loop. "
        "--compare runs two variants in one process, alternating blocks of steps.",
    )
    add_model_flags(train)
    train._option_string_actions["--steps"].help = "timed steps per variant (default 50)"
    train.add_argument(
        "--untimed-steps",
        type=non_negative_int,
        default=5,
        help="warm-up steps before the timed ones (default 5)",
    )
    train.add_argument(
        "--block-steps", type=positive_int, default=5, help="steps per interleaved block"
    )
    train.add_argument(
        "--compare",
        metavar="WHAT[=A,B]",
        help="precision (fp32,bf16), compile (off,on) or threads (1,cores); "
        "e.g. --compare threads=1,2",
    )
    train.add_argument(
        "--peak-seconds",
        type=non_negative_float,
        default=1.0,
        help="time per matmul-peak measurement (fp32 and bf16); 0 skips it",
    )
    _add_data_and_json(train)

    quality = sub.add_parser(
        "quality",
        help="time to quality: wall seconds until the validation loss reaches a target",
        description="Train with the real loop and evaluate every --eval-every steps off the "
        "clock; report the loss-vs-seconds curve and when it first reached --target.",
    )
    add_model_flags(quality)
    quality.add_argument(
        "--target", type=positive_float, default=1.89, help="validation loss to reach (1.89)"
    )
    quality.add_argument(
        "--eval-every", type=positive_int, default=50, help="steps between curve points (50)"
    )
    quality.add_argument(
        "--eval-tokens",
        type=positive_int,
        default=153_600,
        help="held-out tokens per curve point (153,600: nanoGPT's 200 x 12 x 64)",
    )
    quality.add_argument(
        "--max-seconds",
        type=positive_float,
        default=120.0,
        help="give up after this much training time (120)",
    )
    _add_data_and_json(quality)

    generate = sub.add_parser(
        "generate",
        help="prefill, cached and uncached decode tokens/s, latency by position",
        description="Time generation of an untrained preset model (speed does not depend on "
        "the weights) or of a checkpoint.",
    )
    generate.add_argument("--preset", help="tiny, small, recipe or seed (default: small)")
    generate.add_argument("--block-size", type=positive_int)
    generate.add_argument("--num-layers", type=positive_int)
    generate.add_argument("--num-heads", type=positive_int)
    generate.add_argument("--embedding-dim", type=positive_int)
    generate.add_argument("--ffn-dim", type=positive_int)
    generate.add_argument("--checkpoint", help="time this checkpoint instead of a preset")
    generate.add_argument(
        "--new-tokens", type=positive_int, default=300, help="tokens per decode run (300)"
    )
    generate.add_argument(
        "--repeat-seconds",
        type=non_negative_float,
        default=2.0,
        help="seconds spent on the prefill and latency measurements (at least 5 rounds)",
    )
    generate.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    generate.add_argument("--threads", type=positive_int, help="torch intra-op threads")
    _add_data_and_json(generate, "corpus whose characters form the preset's vocabulary")

    studio = sub.add_parser(
        "studio",
        help="training speed inside the studio vs the CLI, key latency while training",
        description="Run the studio headless (Textual's Pilot), train a preset in it and time "
        "key presses; time the same preset with the CLI's loop before and after.",
    )
    studio.add_argument("--preset", default="small", help="tiny, small, recipe or seed")
    studio.add_argument(
        "--seconds",
        type=non_negative_float,
        default=10.0,
        help="measuring window once the studio trains (default 10)",
    )
    studio.add_argument(
        "--presses", type=positive_int, default=20, help="key presses in the window (20)"
    )
    studio.add_argument(
        "--cli-steps", type=positive_int, default=10, help="CLI steps timed before and after"
    )
    studio.add_argument(
        "--threads", type=positive_int, help="torch threads for both (default: each one's own)"
    )
    _add_data_and_json(studio)


def run_bench(args: argparse.Namespace) -> int:
    if args.what == "train":
        report = bench_train(args)
        emit = _print_train
    elif args.what == "quality":
        report = bench_quality(args)
        emit = _print_quality
    elif args.what == "generate":
        report = bench_generate(args)
        emit = _print_generate
    else:
        report = bench_studio(args)
        emit = _print_studio
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        emit(report)
    return 0


def _progress():
    from rich.console import Console

    console = Console(stderr=True)
    return lambda message: console.print(f"[dim]{message}[/]")


def _stdout_console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 120  # files and pipes keep a table's rows on one line each
    return console


def _machine_info(device) -> dict:
    from core import set_threads

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "torch": _torch_version(),
        "device": str(device),
        "threads": set_threads(None),
        "cpu_count": os.cpu_count(),
        "load_average": load,
    }


def _print_busy_warning(console, machine: dict) -> None:
    load, cores = machine["load_average"], machine["cpu_count"] or 1
    if load is not None and load >= cores / 2:
        console.print(
            f"[yellow]the machine was busy before this run (load {load:.2f} on {cores} cores): "
            "other work slows these figures, most of all with several torch threads; rerun "
            "when it is idle[/]"
        )


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


# --- quality --------------------------------------------------------------------------------


def bench_quality(args: argparse.Namespace) -> dict:
    from core import bench_time_to_quality, load_corpus, resolve_device, set_threads

    progress = _progress()
    set_threads(args.threads)
    device = resolve_device(args.device)
    config = config_from_args(args)
    machine = _machine_info(device)
    text = load_corpus(args.data or default_corpus())
    progress(
        f"training {args.preset} until validation loss {args.target:g} "
        f"(at most {args.max_seconds:g} s), evaluating every {args.eval_every} steps"
    )
    result = bench_time_to_quality(
        config,
        text,
        args.target,
        args.eval_every,
        args.max_seconds,
        args.eval_tokens,
        device,
        on_point=lambda p: progress(f"step {p.step}: {p.seconds:.1f} s, val loss {p.val_loss:.3f}"),
    )
    reached = result.reached
    return {
        "bench": "quality",
        "schema": SCHEMA,
        "machine": machine,
        "preset": args.preset,
        "config": asdict(config),
        "target": args.target,
        "eval_every": args.eval_every,
        "eval_tokens": args.eval_tokens,
        "setup_seconds": result.setup_seconds,
        "reached_step": reached.step if reached else None,
        "reached_seconds": reached.seconds if reached else None,
        "curve": [
            {"step": p.step, "seconds": p.seconds, "val_loss": p.val_loss} for p in result.curve
        ],
    }


def _print_quality(report: dict) -> None:
    from rich.table import Table

    console = _stdout_console()
    config = report["config"]
    table = Table(
        title=f"time to quality {report['preset']}: {config['num_layers']} layers x "
        f"{config['embedding_dim']} wide, block {config['block_size']}, batch "
        f"{config['batch_size']}, lr {config['learning_rate']:g}",
        title_justify="left",
    )
    for column in ("step", "seconds", "val loss"):
        table.add_column(column, justify="right")
    curve = report["curve"]
    shown = curve if len(curve) <= 24 else curve[:: math.ceil(len(curve) / 24)] + curve[-1:]
    for point in dict.fromkeys(tuple(p.items()) for p in shown):
        point = dict(point)
        table.add_row(str(point["step"]), f"{point['seconds']:.1f}", f"{point['val_loss']:.3f}")
    console.print(table)
    if report["reached_seconds"] is not None:
        console.print(
            f"[bold]validation loss {report['target']:g} reached at step {report['reached_step']}"
            f" after {report['reached_seconds']:.1f} s[/] (setup {report['setup_seconds']:.1f} s"
            f" included; the curve's own evaluations excluded)"
        )
    else:
        console.print(f"[yellow]validation loss {report['target']:g} was not reached[/]")
    _print_busy_warning(console, report["machine"])


# --- train ----------------------------------------------------------------------------------


def parse_compare(spec: str) -> tuple[str, list[tuple[str, dict]]]:
    """`precision`, `compile=off,on` or `threads=1,2` -> (what, [(name, changes)] x 2)."""
    what, _, values = spec.partition("=")
    if what not in COMPARISONS:
        raise UsageError(f"--compare takes {', '.join(COMPARISONS)}, got {what!r}")
    pair = values.split(",") if values else list(COMPARISONS[what])
    if len(pair) != 2 or not all(pair):
        raise UsageError(f"--compare {what}=A,B needs exactly two values, got {values!r}")
    sides = []
    for value in pair:
        if what == "precision":
            if value not in ("fp32", "bf16"):
                raise UsageError(f"--compare precision values are fp32 and bf16, got {value!r}")
            sides.append((value, {"precision": value}))
        elif what == "compile":
            if value not in ("off", "on"):
                raise UsageError(f"--compare compile values are off and on, got {value!r}")
            sides.append(("compiled" if value == "on" else "eager", {"compile": value == "on"}))
        else:
            try:
                threads = int(value)
            except ValueError:
                raise UsageError(
                    f"--compare threads values are whole numbers, got {value!r}"
                ) from None
            if threads < 1:
                raise UsageError(f"--compare threads values must be >= 1, got {threads}")
            sides.append((f"{threads} thread{'s' if threads > 1 else ''}", {"threads": threads}))
    if sides[0][0] == sides[1][0]:
        raise UsageError(f"--compare {what} needs two different values, got {pair[0]} twice")
    return what, sides


def bench_train(args: argparse.Namespace) -> dict:
    from core import (
        PEAK_MATMUL_SIZE,
        TrainVariant,
        bench_training,
        load_corpus,
        matmul_peak_gflops,
        peak_memory_mb,
        resolve_device,
        set_threads,
    )

    progress = _progress()
    set_threads(args.threads)
    device = resolve_device(args.device)
    steps = args.steps or 50
    config = config_from_args(args)
    if args.compare:
        what, sides = parse_compare(args.compare)
        variants = [
            TrainVariant(
                name,
                replace(config, **{k: v for k, v in changes.items() if k != "threads"}),
                changes.get("threads"),
            )
            for name, changes in sides
        ]
    else:
        what = None
        variants = [TrainVariant(args.preset, config)]
    machine = _machine_info(device)
    text = load_corpus(args.data or default_corpus())
    peak = None
    if args.peak_seconds > 0:
        progress("measuring the matmul peak (fp32, bf16)")
        peak = {
            "fp32": matmul_peak_gflops("fp32", args.peak_seconds, device=device),
            "bf16": matmul_peak_gflops("bf16", args.peak_seconds, device=device),
            "size": PEAK_MATMUL_SIZE,
        }
    results = bench_training(
        variants,
        text,
        steps,
        args.untimed_steps,
        args.block_steps,
        device,
        on_progress=progress,
    )
    rows = []
    for result in results:
        utilisation = result.achieved_gflops / peak[result.precision] if peak else None
        rows.append(
            {
                "name": result.name,
                "precision": result.precision,
                "compile": result.compile,
                "threads": result.threads,
                "parameters": result.parameters,
                "flops_per_token": result.flops_per_token,
                "tokens_per_step": result.tokens_per_step,
                "untimed_seconds": result.untimed_seconds,
                "ms_per_step_median": result.median_step_ms,
                "ms_per_step_p90": result.p90_step_ms,
                "ms_per_step_min": result.min_step_ms,
                "tokens_per_second": result.tokens_per_second,
                "achieved_gflops": result.achieved_gflops,
                "flop_utilisation": utilisation,
            }
        )
    comparison = None
    if what is not None:
        baseline, variant = results
        comparison = {
            "what": what,
            "baseline": baseline.name,
            "variant": variant.name,
            "speedup": baseline.median_step_ms / variant.median_step_ms,
        }
    return {
        "bench": "train",
        "schema": SCHEMA,
        "machine": machine,
        "preset": args.preset,
        "config": {
            "block_size": config.block_size,
            "embedding_dim": config.embedding_dim,
            "num_heads": config.num_heads,
            "num_layers": config.num_layers,
            "hidden_dim": config.hidden_dim,
            "batch_size": config.batch_size,
            "dropout": config.dropout,
            "tokenizer": config.tokenizer,
            "vocab_size": results[0].vocab_size,
        },
        "untimed_steps": args.untimed_steps,
        "steps": steps,
        "block_steps": args.block_steps,
        "matmul_peak_gflops": peak,
        "results": rows,
        "comparison": comparison,
        "peak_memory_mb": peak_memory_mb(device),
    }


def _print_train(report: dict) -> None:
    from rich.table import Table

    config, machine, peak = report["config"], report["machine"], report["matmul_peak_gflops"]
    first = report["results"][0]
    table = Table(
        title=f"train {report['preset']}: {config['num_layers']} layers x "
        f"{config['embedding_dim']} wide, FFN {config['hidden_dim']}, block "
        f"{config['block_size']}, batch {config['batch_size']}, {first['parameters']:,} parameters",
        title_justify="left",
    )
    for column in ("variant", "setup", "ms/step", "p90", "tokens/s", "GFLOP/s", "of peak"):
        table.add_column(column, justify="left" if column in ("variant", "setup") else "right")
    table.add_column("warm-up", justify="right")
    for row in report["results"]:
        utilisation = row["flop_utilisation"]
        table.add_row(
            row["name"],
            f"{row['precision']} {'compiled' if row['compile'] else 'eager'} {row['threads']}t",
            f"{row['ms_per_step_median']:.1f}",
            f"{row['ms_per_step_p90']:.1f}",
            f"{row['tokens_per_second']:,.0f}",
            f"{row['achieved_gflops']:.1f}",
            f"{utilisation:.1%}" if utilisation is not None else "-",
            f"{row['untimed_seconds']:.1f} s",
        )
    console = _stdout_console()
    console.print(table)
    notes = [
        f"{report['steps']} timed steps after {report['untimed_steps']} warm-up steps "
        f"(median and p90 of step times); {first['flops_per_token']:,} FLOPs per token",
        f"peak memory {report['peak_memory_mb'] or 0:.0f} MiB; {machine['device']}, torch "
        f"{machine['torch']}, load average {machine['load_average'] or 0:.2f}",
    ]
    if peak is not None:
        notes.append(
            f"matmul peak ({peak['size']}x{peak['size']}): fp32 {peak['fp32']:,.0f} GFLOP/s, "
            f"bf16 {peak['bf16']:,.0f} GFLOP/s"
        )
    comparison = report["comparison"]
    if comparison is not None:
        notes.append(
            f"[bold]{comparison['variant']} vs {comparison['baseline']}: "
            f"{comparison['speedup']:.2f}x[/] (ratio of median ms/step, blocks of "
            f"{report['block_steps']} steps interleaved)"
        )
    for note in notes:
        console.print(note)
    _print_busy_warning(console, machine)


# --- generate -------------------------------------------------------------------------------

SHAPE_FLAGS = ("block_size", "num_layers", "num_heads", "embedding_dim", "ffn_dim")


def bench_generate(args: argparse.Namespace) -> dict:
    from core import (
        bench_generation,
        build_tokenizer,
        load_corpus,
        load_model,
        peak_memory_mb,
        resolve_device,
        set_threads,
        untrained_model,
    )

    progress = _progress()
    set_threads(args.threads)
    device = resolve_device(args.device)
    shaped = [f"--{name.replace('_', '-')}" for name in SHAPE_FLAGS if getattr(args, name)]
    if args.checkpoint:
        if args.preset or shaped:
            given = ", ".join(([f"--preset {args.preset}"] if args.preset else []) + shaped)
            raise UsageError(f"--checkpoint fixes the model; drop {given}")
        model, checkpoint = load_model(args.checkpoint, device)
        tokenizer, source = checkpoint.tokenizer, str(args.checkpoint)
    else:
        args.preset = args.preset or "small"
        config = config_from_args(args)
        tokenizer = build_tokenizer("char", load_corpus(args.data or default_corpus()))
        model = untrained_model(config, tokenizer.vocab_size, device)
        source = f"preset:{args.preset}"
    machine = _machine_info(device)
    result = bench_generation(
        model, tokenizer, args.new_tokens, seconds=args.repeat_seconds, on_progress=progress
    )
    config = model.config
    cached = [latency.cached_ms for latency in result.latencies]
    return {
        "bench": "generate",
        "schema": SCHEMA,
        "machine": machine,
        "source": source,
        "config": {
            "block_size": config.block_size,
            "embedding_dim": config.embedding_dim,
            "num_heads": config.num_heads,
            "num_layers": config.num_layers,
            "hidden_dim": config.hidden_dim,
            "vocab_size": result.vocab_size,
        },
        "parameters": result.parameters,
        "new_tokens": result.new_tokens,
        "prefill_ms": result.prefill_ms,
        "token_by_token_ms": result.token_by_token_ms,
        "prefill_speedup": result.prefill_speedup,
        "cached_tokens_per_second": result.cached.tokens_per_second,
        "uncached_tokens_per_second": result.uncached.tokens_per_second,
        "cache_speedup": result.cache_speedup,
        "cached_step_ms": result.cached.step_ms,
        "uncached_step_ms": result.uncached.step_ms,
        "cached_forward_ms": result.cached.forward_ms,
        "uncached_forward_ms": result.uncached.forward_ms,
        "latency": [
            {"position": x.position, "cached_ms": x.cached_ms, "uncached_ms": x.uncached_ms}
            for x in result.latencies
        ],
        "latency_spread": max(cached) / min(cached),
        "peak_memory_mb": peak_memory_mb(device),
    }


def _print_generate(report: dict) -> None:
    from rich.table import Table

    config, machine = report["config"], report["machine"]
    console = _stdout_console()
    summary = Table(
        title=f"generate {report['source']}: {config['num_layers']} layers x "
        f"{config['embedding_dim']} wide, block {config['block_size']}, vocab "
        f"{config['vocab_size']}, {report['parameters']:,} parameters",
        title_justify="left",
    )
    summary.add_column("measure")
    summary.add_column("cached", justify="right")
    summary.add_column("uncached", justify="right")
    summary.add_column("ratio", justify="right")
    summary.add_row(
        f"decode tokens/s ({report['new_tokens']} new)",
        f"{report['cached_tokens_per_second']:,.0f}",
        f"{report['uncached_tokens_per_second']:,.0f}",
        f"{report['cache_speedup']:.1f}x",
    )
    summary.add_row(
        "step ms per token, sampling included (median)",
        f"{report['cached_step_ms']:.2f}",
        f"{report['uncached_step_ms']:.2f}",
        f"{report['uncached_step_ms'] / report['cached_step_ms']:.1f}x",
    )
    summary.add_row(
        "forward ms per token (median)",
        f"{report['cached_forward_ms']:.2f}",
        f"{report['uncached_forward_ms']:.2f}",
        f"{report['uncached_forward_ms'] / report['cached_forward_ms']:.1f}x",
    )
    for latency in report["latency"]:
        summary.add_row(
            f"  latency at position {latency['position']} (ms)",
            f"{latency['cached_ms']:.2f}",
            f"{latency['uncached_ms']:.2f}",
            f"{latency['uncached_ms'] / latency['cached_ms']:.1f}x",
        )
    summary.add_row(
        f"full block of {config['block_size']}: prefill vs token by token (ms)",
        f"{report['prefill_ms']:.1f}",
        f"{report['token_by_token_ms']:.1f}",
        f"{report['prefill_speedup']:.1f}x",
    )
    console.print(summary)
    console.print(
        f"cached latency spread {report['latency_spread']:.2f}x (slowest / fastest position); "
        f"peak memory {report['peak_memory_mb'] or 0:.0f} MiB; {machine['device']}, "
        f"{machine['threads']} thread(s), load average {machine['load_average'] or 0:.2f}"
    )
    _print_busy_warning(console, machine)


# --- studio ---------------------------------------------------------------------------------

KEY_TIMEOUT = 5.0  # seconds a key press may take before it counts as lost


def bench_studio(args: argparse.Namespace) -> dict:
    import asyncio
    import tempfile

    from core import (
        TrainVariant,
        bench_training,
        load_corpus,
        peak_memory_mb,
        prepare_multiprocessing,
        preset,
        resolve_device,
        set_threads,
    )
    from tui.app import StudioApp

    progress = _progress()
    config = preset(args.preset)
    corpus = str(args.data or default_corpus())
    text = load_corpus(corpus)
    set_threads(args.threads)
    machine = _machine_info(resolve_device(None))

    def cli_tokens_per_second() -> float:
        (result,) = bench_training([TrainVariant("cli", config)], text, args.cli_steps, 2)
        return result.tokens_per_step * len(result.step_seconds) / sum(result.step_seconds)

    progress(f"timing {args.cli_steps} CLI steps")
    before = cli_tokens_per_second()
    prepare_multiprocessing()
    with tempfile.TemporaryDirectory() as checkpoints_dir:
        app = StudioApp(
            preset_name=args.preset,
            corpus_path=corpus,
            checkpoints_dir=checkpoints_dir,
            threads=args.threads,
        )
        studio = asyncio.run(_measure_studio(app, args.seconds, args.presses, progress))
    progress(f"timing {args.cli_steps} CLI steps again")
    after = cli_tokens_per_second()
    cli = (before + after) / 2
    tokens_per_step = config.batch_size * config.block_size
    studio_rate = studio.pop("steps_per_second") * tokens_per_step
    typing_rate = studio.pop("steps_per_second_typing") * tokens_per_step
    return {
        "bench": "studio",
        "schema": SCHEMA,
        "machine": machine,
        "preset": args.preset,
        "seconds": args.seconds,
        "cli_threads": set_threads(None),
        "cli_tokens_per_second": cli,
        "cli_tokens_per_second_before": before,
        "cli_tokens_per_second_after": after,
        "studio_tokens_per_second": studio_rate,
        "throughput_ratio": studio_rate / cli,
        "studio_tokens_per_second_typing": typing_rate,
        "throughput_ratio_typing": typing_rate / cli,
        **studio,
        "peak_memory_mb": peak_memory_mb(None),
    }


async def _measure_studio(app, seconds: float, presses: int, progress) -> dict:
    """Drive the studio: key latency when idle, start training, key latency while it trains."""
    import asyncio
    import time

    from textual.widgets import Input

    async with app.run_test(size=(160, 48)) as pilot:
        train = app.train_screen
        progress("timing key presses in the idle studio")
        idle = [await _key_latency(pilot) for _ in range(min(presses, 5))]
        train.query_one("#steps", Input).value = str(10**9)
        app.set_focus(None)  # t in a focused input would type a letter
        progress("starting training in the studio")
        started = time.perf_counter()
        await pilot.press("t")
        while train.steps_received == 0 and train.state != "failed":
            await asyncio.sleep(0.01)
        if train.state == "failed":
            raise UsageError(f"training in the studio failed: {train.finished.error}")
        first_step_seconds = time.perf_counter() - started
        await asyncio.sleep(min(1.0, seconds / 4))  # past the first, slower steps
        progress(f"timing training over {seconds:g} s (watching, no key presses)")
        watching = await _training_window(train, seconds)
        progress(f"timing {presses} key presses over {seconds:g} s of training")
        latencies = []
        first = train.last
        window_end = time.perf_counter() + seconds
        for i in range(presses):
            latencies.append(await _key_latency(pilot))
            next_press = window_end - seconds * (presses - i - 1) / presses
            await asyncio.sleep(max(0.0, next_press - time.perf_counter()))
        typing = _rate(first, train.last)
        threads = train.started.threads if train.started is not None else None
        stopping = time.perf_counter()
        train.action_stop()
        while train.state not in ("finished", "failed"):
            await asyncio.sleep(0.02)
        stop_seconds = time.perf_counter() - stopping
        if train.process is not None:
            train.process.join(30)  # an exiting child would slow the CLI run that follows
    return {
        "studio_threads": threads,
        "studio_steps": watching["steps"],
        "steps_per_second": watching["steps_per_second"],
        "steps_per_second_typing": typing["steps_per_second"],
        "ui_cpu_share": watching["ui_cpu_share"],
        "first_step_seconds": first_step_seconds,
        "stop_seconds": stop_seconds,
        "key_latency_idle_ms": _latency_summary(idle),
        "key_latency_training_ms": _latency_summary(latencies),
    }


async def _training_window(train, seconds: float) -> dict:
    """Steps per second and the UI process's CPU share while the studio trains, untouched."""
    import asyncio
    import time

    first = train.last
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    ui_cpu_share = (time.process_time() - cpu_started) / (time.perf_counter() - wall_started)
    return {**_rate(first, train.last), "ui_cpu_share": ui_cpu_share}


def _rate(first, last) -> dict:
    """Steps and steps per second between two StepMetrics, by the trainer's own clock."""
    elapsed = last.elapsed - first.elapsed
    steps = last.step - first.step
    return {"steps": steps, "steps_per_second": steps / elapsed if elapsed > 0 else 0.0}


async def _key_latency(pilot, key: str = "tab") -> float | None:
    """Seconds from `pilot.press(key)` until the focus has moved; None if it never does."""
    import asyncio
    import time

    app = pilot.app
    before = app.focused
    moved_at: float | None = None

    async def watch() -> None:
        nonlocal moved_at
        while app.focused is before:
            await asyncio.sleep(0.0005)
        moved_at = time.perf_counter()

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    await pilot.press(key)
    try:
        await asyncio.wait_for(watcher, KEY_TIMEOUT)
    except asyncio.TimeoutError:
        return None
    return moved_at - started


def _latency_summary(seconds: list[float | None]) -> dict:
    from core import percentile

    measured = [s * 1000 for s in seconds if s is not None]
    if not measured:
        return {"median": None, "p90": None, "max": None, "count": 0, "timeouts": len(seconds)}
    return {
        "median": percentile(measured, 0.5),
        "p90": percentile(measured, 0.9),
        "max": max(measured),
        "count": len(measured),
        "timeouts": len(seconds) - len(measured),
    }


def _print_studio(report: dict) -> None:
    from rich.table import Table

    console = _stdout_console()
    table = Table(title=f"studio {report['preset']}", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        f"CLI tokens/s ({report['cli_threads']} thread(s), before / after)",
        f"{report['cli_tokens_per_second']:,.0f} ({report['cli_tokens_per_second_before']:,.0f}"
        f" / {report['cli_tokens_per_second_after']:,.0f})",
    )
    table.add_row(
        f"studio tokens/s ({report['studio_threads']} thread(s), {report['studio_steps']} steps)",
        f"{report['studio_tokens_per_second']:,.0f}",
    )
    table.add_row("[bold]studio / CLI[/] (watching)", f"[bold]{report['throughput_ratio']:.2f}x[/]")
    typing = report["studio_tokens_per_second_typing"]
    table.add_row(
        "studio / CLI while keys are pressed",
        f"{report['throughput_ratio_typing']:.2f}x ({typing:,.0f} tokens/s)",
    )
    table.add_row("UI process CPU while training (cores)", f"{report['ui_cpu_share']:.2f}")
    table.add_row("key t to the first step", f"{report['first_step_seconds']:.1f} s")
    table.add_row("key x to the saved, finished run", f"{report['stop_seconds']:.1f} s")
    for label, key in (("idle", "key_latency_idle_ms"), ("training", "key_latency_training_ms")):
        summary = report[key]
        if summary["count"]:
            value = (
                f"{summary['median']:.0f} / {summary['p90']:.0f} / {summary['max']:.0f} ms"
                f" ({summary['count']} presses"
                + (f", {summary['timeouts']} lost)" if summary["timeouts"] else ")")
            )
        else:
            value = f"no key press arrived ({summary['timeouts']} lost)"
        table.add_row(f"key latency {label}: median / p90 / max", value)
    console.print(table)
    machine = report["machine"]
    console.print(
        f"{report['seconds']:g} s window; peak memory of the UI process "
        f"{report['peak_memory_mb'] or 0:.0f} MiB; load average {machine['load_average'] or 0:.2f}"
    )
    _print_busy_warning(console, machine)
