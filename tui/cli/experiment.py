"""`minigpt experiment`: race the baseline against design variants and show what each is for."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from core import (
    RESULTS_FILE,
    RacePlan,
    RaceProgress,
    RunLock,
    cpu_model,
    load_corpus,
    load_race,
    new_run_folder,
    preset,
    run_plan,
    save_race,
    scenario_names,
    scenario_plan,
    set_threads,
    variants_plan,
)
from tui.cli.args import UsageError
from tui.cli.race_view import (
    instrument_lines,
    live_table,
    results_table,
    scenario_table,
    summary_table,
    variant_table,
    verdict_lines,
)
from tui.paths import checkpoints_root, default_corpus
from tui.report import stdout_console

# flag -> the Config field it sets, for a scenario's shape as for a preset's
SHAPE_FLAGS = {
    "num_layers": "num_layers",
    "num_heads": "num_heads",
    "embedding_dim": "embedding_dim",
    "block_size": "block_size",
    "ffn_dim": "ffn_dim",
    "lr": "learning_rate",
    "batch_size": "batch_size",
    "seed": "seed",
}


def cmd_experiment(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.list:
        Console().print(scenario_table())
        Console().print(variant_table())
        return 0
    if args.open:
        report = load_race(args.open)
        _show(report, args.json)
        return 0
    set_threads(args.threads)
    changes = {
        field: getattr(args, flag)
        for flag, field in SHAPE_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    if args.scenario:
        plans = [
            scenario_plan(name, args.seeds, args.steps, **changes)
            for name in scenario_names(args.scenario)
        ]
    else:
        base = replace(preset(args.preset), **changes)
        plans = [variants_plan(base, args.variants, args.steps, args.seeds)]
    corpus = load_corpus(args.data or default_corpus())
    reports = []
    for plan in plans:
        reports.append(_race_plan(args, console, plan, corpus, len(plans) > 1))
        if reports[-1].get("stopped"):
            break
    if len(reports) > 1 and not args.json:
        stdout_console().print(summary_table(reports, cpu_model()))
    return 0


def _race_plan(args, console, plan: RacePlan, corpus: str, several: bool) -> dict:
    label = plan.scenario or args.preset
    if args.out:
        out = Path(args.out) / plan.scenario if several else Path(args.out)
    else:
        out = new_run_folder(checkpoints_root() / "experiments", label)
    if (out / RESULTS_FILE).exists():
        raise UsageError(f"{out} already holds a race; pass another --out (it is kept)")
    try:  # one writer per folder, as for training: a train or race there is refused
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out)
        lock.acquire()
    except OSError as error:
        raise UsageError(f"cannot write into {out}: {error.strerror}; pass another --out") from None
    try:
        return _race_into(args, console, plan, corpus, out, label)
    finally:
        lock.release()


def _race_into(args, console, plan: RacePlan, corpus: str, out: Path, label: str) -> dict:
    stopped: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stopped.append(signum))
    points: dict[str, dict] = {}
    report: dict = {}
    names = plan.names
    seeds = f", {plan.seeds} seeds" if plan.seeds > 1 else ""
    console.print(
        f"racing {', '.join(names)} ({label}) for {plan.steps} steps{seeds} "
        "(Ctrl+C stops and keeps what was measured)"
    )
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TimeRemainingColumn(),
        console=console,
        auto_refresh=False,  # drawn by the Live below, with the table
    )
    task = bar.add_task("race", total=plan.steps * len(names) * plan.seeds)
    scale = {arm.name: arm.steps_scale for arm in plan.arms}

    def view() -> Group:
        return Group(bar, live_table(names, points, plan.steps))

    try:
        with Live(view(), console=console) as live:
            for event in run_plan(plan, corpus, stop=lambda: bool(stopped)):
                if isinstance(event, RaceProgress):
                    points.setdefault(event.variant, {})[event.seed] = event.point
                    done = sum(
                        p.step // scale[name]
                        for name, seen in points.items()
                        for p in seen.values()
                    )
                    bar.update(task, completed=done)
                    live.update(view())
                else:
                    report = event
    finally:
        signal.signal(signal.SIGINT, previous)
    report["preset"] = None if plan.scenario else args.preset
    report["stopped"] = bool(stopped)
    try:
        path = save_race(out, report)
    except OSError as error:
        raise UsageError(f"cannot write into {out}: {error.strerror}; pass another --out") from None
    if not console.is_terminal:
        console.line()  # the live table's last line ends without one when piped
    _show(report, args.json)
    console.print(f"saved {path}; reopen with: minigpt experiment --open {out}")
    return report


def _show(report: dict, as_json: bool) -> None:
    if as_json:
        keys = ("variants", "config", "scenario", "seeds", "verdicts", "seconds")
        json.dump({key: report.get(key) for key in keys}, sys.stdout)
        sys.stdout.write("\n")
        return
    console = stdout_console()
    console.print(results_table(report))
    console.print(verdict_lines(report))
    console.print(instrument_lines(report))
    console.print("samples (the same prompt and seed for every variant):", style="bold")
    for variant in report["variants"]:
        console.print(Text(variant["name"], style="bold"))
        console.print(_sample_text(variant["sample"]), highlight=False)


def _sample_text(sample: str, lines: int = 3, width: int = 200) -> Text:
    """A variant's sample as the text it is (never a Python repr, never read as markup):
    its first lines, indented, and an ellipsis where it was cut."""
    shown = sample.strip("\n")[:width].split("\n")
    cut = len(shown) > lines or len(sample.strip("\n")) > width
    body = "\n".join("  " + line for line in shown[:lines]) + (" …" if cut else "")
    return Text(body, style="dim")
