"""`minigpt bench race`: the wall time of an experiment race, start to results."""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from core import load_corpus, parse_variants, preset, race, set_threads
from tui import report as reporting
from tui.paths import default_corpus


def bench_race(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    text = load_corpus(args.data or default_corpus())
    names = parse_variants(args.variants)
    machine = reporting.machine_info("cpu")
    started = time.perf_counter()
    results = ()
    for event in race(preset(args.preset), text, names, args.steps):
        if isinstance(event, tuple):
            results = event
    seconds = time.perf_counter() - started
    return {
        "bench": "race",
        "schema": reporting.SCHEMA,
        "machine": machine,
        "preset": args.preset,
        "steps": args.steps,
        "seconds": seconds,
        "variants": [
            {
                "name": result.name,
                "ms_per_step": result.ms_per_step,
                "val_bpc": result.val_bpc,
                "causal_val_bpc": result.causal_val_bpc,
            }
            for result in results
        ],
    }


def print_race(report: dict) -> None:
    console = reporting.stdout_console()
    table = Table(
        title=f"race on {report['preset']}: {len(report['variants'])} variants x "
        f"{report['steps']} steps in {report['seconds']:.1f} s (setup, evaluations and "
        "samples included)",
        title_justify="left",
    )
    for column in ("variant", "ms/step", "val bpc", "causal val bpc"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant in report["variants"]:
        table.add_row(
            variant["name"],
            f"{variant['ms_per_step']:.2f}",
            f"{variant['val_bpc']:.3f}",
            f"{variant['causal_val_bpc']:.3f}",
        )
    console.print(table)
    machine = report["machine"]
    console.print(
        f"{machine['device']}, {machine['threads']} thread(s), load average "
        f"{machine['load_average'] or 0:.2f}"
    )
    reporting.print_busy_warning(console, machine)
