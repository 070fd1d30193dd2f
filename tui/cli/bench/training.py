"""`minigpt bench train` and `bench quality`: training speed and time to quality, as JSON and
tables."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, replace

from rich.table import Table

from core import bf16_instructions, load_corpus, preset, resolve_device, set_threads
from core.bench import (
    PEAK_MATMUL_SIZE,
    TrainVariant,
    bench_time_to_quality,
    bench_training,
    matmul_peak_gflops,
    peak_memory_mb,
)
from tui import report as reporting
from tui.cli.args import UsageError, config_from_args
from tui.paths import default_corpus

COMPARISONS = {
    # --compare NAME -> the two values compared when none are given
    "precision": ("fp32", "bf16"),
    "compile": ("off", "on"),
    "threads": ("1", str(os.cpu_count() or 1)),
}


# --- quality --------------------------------------------------------------------------------


def bench_quality(args: argparse.Namespace) -> dict:
    progress = reporting.progress_printer()
    set_threads(args.threads)
    device = resolve_device(args.device)
    config = config_from_args(args)
    machine = reporting.machine_info(device)
    text = load_corpus(args.data or default_corpus())
    reference_config = None
    if args.reference is not None:
        reference_config = replace(preset(args.reference), precision="fp32", compile=False)
    alongside = ""
    if reference_config is not None:
        alongside = (
            f", beside {args.reference} in fp32 eager for its {reference_config.max_steps} "
            "steps (turns of 1 s)"
        )
    progress(
        f"training {args.preset} until validation loss {args.target:g} "
        f"(at most {args.max_seconds:g} s), evaluating every {args.eval_every} steps{alongside}"
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
        reference=reference_config,
    )
    reached = result.reached
    reference = None
    if result.reference is not None:
        run = result.reference
        reference = {
            "preset": args.reference,
            "precision": "fp32",
            "steps": run.steps,
            "seconds": run.seconds,
            "val_loss": run.val_loss,
        }
    ratio = None
    if reference is not None and reached is not None:
        ratio = reached.seconds / reference["seconds"]
    return {
        "bench": "quality",
        "schema": reporting.SCHEMA,
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
        "reference": reference,
        "reference_ratio": ratio,
    }


def print_quality(report: dict) -> None:
    console = reporting.stdout_console()
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
    reference = report["reference"]
    if reference is not None:
        loss = reference["val_loss"]
        console.print(
            f"reference: {reference['preset']} in fp32 eager, {reference['steps']:,} steps in "
            f"{reference['seconds']:.1f} s (setup and evaluations included), last validation "
            f"loss {'-' if loss is None else f'{loss:.3f}'}"
        )
        if report["reference_ratio"] is not None:
            console.print(
                f"[bold]time to {report['target']:g} / the reference run: "
                f"{report['reference_ratio']:.2f}x[/] (below 1: sooner)"
            )
    reporting.print_busy_warning(console, report["machine"])


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
    progress = reporting.progress_printer()
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
    machine = reporting.machine_info(device)
    text = load_corpus(args.data or default_corpus())
    peak = None
    if args.peak_seconds > 0:
        # a CPU without bf16 matrix instructions emulates them: one 2048^3 product takes a
        # minute there, and no run of it picks bf16 anyway
        native = device.type != "cpu" or bf16_instructions() is not None
        progress("measuring the matmul peak" + (" (fp32, bf16)" if native else " (fp32)"))
        peak = {
            "fp32": matmul_peak_gflops("fp32", args.peak_seconds, device=device),
            "bf16": matmul_peak_gflops("bf16", args.peak_seconds, device=device)
            if native
            else None,
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
        of = peak[result.precision] if peak else None
        utilisation = result.achieved_gflops / of if of else None
        rows.append(
            {
                "name": result.name,
                "precision": result.precision,
                "precision_reason": result.precision_reason,
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
        "schema": reporting.SCHEMA,
        "machine": machine,
        "preset": args.preset,
        "config": {
            **reporting.model_shape(config),
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


def print_train(report: dict) -> None:
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
    console = reporting.stdout_console()
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
            + (
                f"bf16 {peak['bf16']:,.0f} GFLOP/s"
                if peak["bf16"] is not None
                else "bf16 not measured (this CPU has no bf16 matrix instructions)"
            )
        )
    comparison = report["comparison"]
    if comparison is not None:
        notes.append(
            f"[bold]{comparison['variant']} vs {comparison['baseline']}: "
            f"{comparison['speedup']:.2f}x[/] (ratio of median ms/step, blocks of "
            f"{report['block_steps']} steps interleaved)"
        )
    for row in report["results"]:
        notes.append(f"{row['name']}: {row['precision_reason']}")
    for note in notes:
        console.print(note, highlight=False)
    reporting.print_busy_warning(console, machine)
