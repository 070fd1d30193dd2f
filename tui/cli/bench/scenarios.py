"""`minigpt bench scenarios`: every lesson's race on several corpora, and whether each verdict
agrees with its lesson there; the check that the scenarios teach on more than one text."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from core import (
    lesson_agrees,
    load_corpus,
    run_plan,
    scenario_names,
    scenario_plan,
    set_threads,
)
from tui import report as reporting
from tui.paths import default_corpus


def bench_scenarios(args: argparse.Namespace) -> dict:
    threads = set_threads(args.threads)
    machine = reporting.machine_info("cpu")
    started = time.perf_counter()
    runs = []
    for path in args.data or [str(default_corpus())]:
        corpus = load_corpus(path)
        for name in scenario_names(args.scenario):
            plan = scenario_plan(name, args.seeds)
            if plan.data != "corpus" and runs and any(r["scenario"] == name for r in runs):
                continue  # its text is generated: another corpus changes nothing
            report = {}
            for event in run_plan(plan, corpus):
                report = event
            verdicts = report["verdicts"]
            runs.append(
                {
                    "scenario": name,
                    "corpus": Path(path).name if plan.data == "corpus" else plan.data,
                    "seconds": report["seconds"],
                    "agrees": lesson_agrees(verdicts),
                    "variants": [
                        {"name": v["name"], "seed_curves": v["seed_curves"]}
                        for v in report["variants"]
                    ],
                    "verdicts": [
                        {
                            k: v[k]
                            for k in (
                                "arm",
                                "reference",
                                "outcome",
                                "margin",
                                "noise",
                                "expect",
                                "line",
                            )
                        }
                        for v in verdicts
                    ],
                }
            )
    return {
        "bench": "scenarios",
        "schema": reporting.SCHEMA,
        "machine": machine,
        "threads": threads,
        "seeds": args.seeds,
        "seconds": time.perf_counter() - started,
        "runs": runs,
    }


def print_scenarios(report: dict) -> None:
    console = reporting.stdout_console()
    table = Table(title="scenarios: each lesson's verdict, computed from its race")
    for column in ("scenario", "corpus", "verdict", "margin", "noise", "agrees", "seconds"):
        table.add_column(
            column, justify="right" if column in ("margin", "noise", "seconds") else "left"
        )
    for run in report["runs"]:
        for i, verdict in enumerate(run["verdicts"]):
            table.add_row(
                run["scenario"] if i == 0 else "",
                run["corpus"] if i == 0 else "",
                verdict["line"],
                f"{verdict['margin']:+.3f}",
                f"±{verdict['noise']:.3f}",
                "yes" if run["agrees"] else "NO",
                f"{run['seconds']:.0f}" if i == 0 else "",
            )
    console.print(table)
    agreeing = sum(run["agrees"] for run in report["runs"])
    machine = report["machine"]
    console.print(
        f"{agreeing}/{len(report['runs'])} scenario runs agree with their lesson; "
        f"{report['seconds']:.0f} s in all, {report['threads']} thread(s), load average "
        f"{machine['load_average'] or 0:.2f} before"
    )
    reporting.print_busy_warning(console, machine)
