"""`minigpt bench generate`: prefill, decode and latency of a preset or a checkpoint, as JSON and
a table."""

from __future__ import annotations

import argparse

from rich.table import Table

from core import (
    MAX_BPC_COST,
    UserError,
    build_tokenizer,
    load_corpus,
    load_model,
    resolve_device,
    set_threads,
)
from core.bench import bench_generation, peak_memory_mb, untrained_model
from tui import report as reporting
from tui.cli.args import SHAPE_FLAGS, UsageError, config_from_args
from tui.paths import default_corpus


def bench_generate(args: argparse.Namespace) -> dict:
    progress = reporting.progress_printer()
    set_threads(args.threads)
    device = resolve_device(args.device)
    shaped = [f"--{name.replace('_', '-')}" for name in SHAPE_FLAGS if getattr(args, name)]
    if args.checkpoint:
        if args.preset or shaped:
            given = ", ".join(([f"--preset {args.preset}"] if args.preset else []) + shaped)
            raise UsageError(f"--checkpoint fixes the model; drop {given}")
        model, checkpoint = load_model(args.checkpoint, device)
        tokenizer, source = checkpoint.tokenizer, str(args.checkpoint)
        text = load_corpus(args.data or default_corpus())
        try:
            tokenizer.encode(text[:100_000])
        except UserError as error:
            raise UsageError(
                f"the corpus does not fit the checkpoint's vocabulary ({error}); pass --data "
                "with the corpus it was trained on (its validation split measures each weight "
                "format's quality)"
            ) from None
    else:
        args.preset = args.preset or "small"
        config = config_from_args(args)
        text = load_corpus(args.data or default_corpus())
        tokenizer = build_tokenizer("char", text)
        model = untrained_model(config, tokenizer.vocab_size, device)
        source = f"preset:{args.preset}"
    machine = reporting.machine_info(device)
    result = bench_generation(
        model,
        tokenizer,
        args.new_tokens,
        seconds=args.repeat_seconds,
        on_progress=progress,
        text=text,
    )
    config = model.config
    cached = [latency.cached_ms for latency in result.latencies]
    chosen = next((t for t in result.formats if t.weights == result.weights), None)
    return {
        "bench": "generate",
        "schema": reporting.SCHEMA,
        "machine": machine,
        "source": source,
        "config": {**reporting.model_shape(config), "vocab_size": result.vocab_size},
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
        "decode_layout": result.decode_layout,
        "weight_mb": result.weight_bytes / 1e6,
        "decode_ms": result.decode_ms,
        "streamed_gbs": result.streamed_gbs,
        "read_gbs": result.read_gbs,
        "floor_ms": result.floor_ms,
        "floor_ratio": result.decode_ms / result.floor_ms,
        "products_ms": result.products_ms,
        "products_ratio": result.decode_ms / result.products_ms,
        "weights": result.weights,
        "formats": [
            {
                "weights": timing.weights,
                "step_ms": timing.step_ms,
                "weight_mb": timing.weight_bytes / 1e6,
                "floor_ms": timing.weight_bytes / 1e9 / result.read_gbs * 1000,
                "quality_delta_bpc": timing.bpc_cost,
            }
            for timing in result.formats
        ],
        "quality_delta_bpc": chosen.bpc_cost if chosen else 0.0,
        "weights_step_ms": chosen.step_ms if chosen else result.decode_ms,
        "weights_floor_ratio": (chosen.step_ms if chosen else result.decode_ms) / result.floor_ms,
        "peak_memory_mb": peak_memory_mb(device),
    }


def print_generate(report: dict) -> None:
    config, machine = report["config"], report["machine"]
    console = reporting.stdout_console()
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
        f"decode streams {report['weight_mb']:.1f} MB of weights ({report['decode_layout']} "
        f"layout, measured fastest) at {report['streamed_gbs']:.1f} GB/s; memory reads at "
        f"{report['read_gbs']:.1f} GB/s, a floor of {report['floor_ms']:.2f} ms/token: "
        f"{report['decode_ms']:.2f} ms is {report['floor_ratio']:.2f}x the floor; the step's "
        f"matrix-vector products alone take {report['products_ms']:.2f} ms "
        f"(the step is {report['products_ratio']:.2f}x that)"
    )
    console.print(
        f"cached latency spread {report['latency_spread']:.2f}x (slowest / fastest position); "
        f"peak memory {report['peak_memory_mb'] or 0:.0f} MiB; {machine['device']}, "
        f"{machine['threads']} thread(s), load average {machine['load_average'] or 0:.2f}"
    )
    if report["formats"]:
        console.print(_formats_table(report))
    reporting.print_busy_warning(console, machine)


def _formats_table(report: dict) -> Table:
    """Each weight format's decode step against its own floor and fp32's, and its cost."""
    fp32_floor = report["floor_ms"]
    table = Table(
        title=f"weight formats: auto takes {report['weights']} (the fastest within "
        f"{MAX_BPC_COST} bits per character of fp32 on the validation split)",
        title_justify="left",
    )
    for column in ("format", "MB read per token", "ms per token", "its floor", "/ fp32 floor"):
        table.add_column(column, justify="left" if column == "format" else "right")
    table.add_column("bpc cost", justify="right")
    for each in report["formats"]:
        table.add_row(
            f"[bold]{each['weights']}[/]"
            if each["weights"] == report["weights"]
            else each["weights"],
            f"{each['weight_mb']:.1f}",
            f"{each['step_ms']:.2f}",
            f"{each['floor_ms']:.2f}",
            f"{each['step_ms'] / fp32_floor:.2f}x",
            f"{each['quality_delta_bpc']:+.4f}",
        )
    return table
