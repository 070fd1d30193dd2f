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
from rich.table import Table
from rich.text import Text

from core import (
    LEAK_NATS,
    RESULTS_FILE,
    VARIANTS,
    RaceProgress,
    RunLock,
    load_corpus,
    load_race,
    new_run_folder,
    parse_variants,
    preset,
    race,
    results_to_dict,
    save_race,
)
from tui.cli.args import UsageError
from tui.paths import checkpoints_root, default_corpus


def cmd_experiment(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.list:
        Console().print(_variant_table())
        return 0
    if args.open:
        report = load_race(args.open)
        _show(report, args.json)
        return 0
    names = parse_variants(args.variants)
    base = preset(args.preset)
    if args.seed is not None:
        base = replace(base, seed=args.seed)
    text = load_corpus(args.data or default_corpus())
    out = (
        Path(args.out)
        if args.out
        else new_run_folder(checkpoints_root() / "experiments", args.preset)
    )
    if (out / RESULTS_FILE).exists():
        raise UsageError(f"{out} already holds a race; pass another --out (it is kept)")
    try:  # one writer per folder, as for training: a train or race there is refused
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out)
        lock.acquire()
    except OSError as error:
        raise UsageError(f"cannot write into {out}: {error.strerror}; pass another --out") from None
    try:
        return _race_into(args, console, names, base, text, out)
    finally:
        lock.release()


def _race_into(args, console, names, base, text, out: Path) -> int:
    stopped: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stopped.append(signum))
    points: dict[str, RaceProgress] = {}
    results = ()
    console.print(
        f"racing {', '.join(names)} on {args.preset} for {args.steps} steps "
        "(Ctrl+C stops and keeps what was measured)"
    )
    bar = Progress(
        TextColumn("[bold]race"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TimeRemainingColumn(),
        console=console,
        auto_refresh=False,  # drawn by the Live below, with the table
    )
    task = bar.add_task("race", total=args.steps * len(names))

    def view() -> Group:
        return Group(bar, _live_table(names, points, args.steps))

    try:
        with Live(view(), console=console) as live:
            events = race(base, text, names, args.steps, stop=lambda: bool(stopped))
            for event in events:
                if isinstance(event, RaceProgress):
                    points[event.variant] = event
                    bar.update(task, completed=sum(p.point.step for p in points.values()))
                    live.update(view())
                else:
                    results = event
    finally:
        signal.signal(signal.SIGINT, previous)
    report = results_to_dict(results, base, args.steps)
    report["preset"] = args.preset
    report["stopped"] = bool(stopped)
    try:
        path = save_race(out, report)
    except OSError as error:
        raise UsageError(f"cannot write into {out}: {error.strerror}; pass another --out") from None
    if not console.is_terminal:
        console.line()  # the live table's last line ends without one when piped
    _show(report, args.json)
    console.print(f"saved {path}; reopen with: minigpt experiment --open {out}")
    return 0


def _variant_table() -> Table:
    table = Table(title="variants (minigpt experiment --variants a,b,...)")
    for column in ("variant", "question", "what the race shows"):
        table.add_column(column, overflow="fold")
    for variant in VARIANTS.values():
        table.add_row(variant.name, variant.question, variant.shows)
    return table


def _live_table(names: list[str], points: dict[str, RaceProgress], steps: int) -> Table:
    table = Table(title=f"race: {steps} steps per variant")
    table.add_column("variant", no_wrap=True)
    for column in ("step", "train loss", "val loss", "causal val loss", "val bpc"):
        table.add_column(column, justify="right")
    for name in names:
        event = points.get(name)
        if event is None:
            table.add_row(name, "-", "-", "-", "-", "-")
            continue
        point = event.point
        table.add_row(
            name,
            str(point.step),
            "-" if point.train_loss != point.train_loss else f"{point.train_loss:.3f}",
            f"{point.val_loss:.3f}",
            f"{point.causal_val_loss:.3f}",
            f"{point.val_bpc:.3f}",
        )
    return table


def _show(report: dict, as_json: bool) -> None:
    if as_json:
        json.dump({"variants": report["variants"], "config": report["config"]}, sys.stdout)
        sys.stdout.write("\n")
        return
    console = Console()
    console.print(_results_table(report))
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


def _results_table(report: dict) -> Group:
    table = Table(
        title=f"race results ({report.get('steps')} steps per variant; validation bits per "
        "character and loss, also under the real causal mask)"
    )
    table.add_column("variant", no_wrap=True)
    for column in ("bpc", "causal bpc", "loss", "causal loss", "params", "ms/step", "tok/s"):
        table.add_column(column, justify="right")
    table.add_column("MB", justify="right")
    for v in report["variants"]:
        leak = v["causal_val_loss"] > v["val_loss"] + LEAK_NATS
        table.add_row(
            v["name"],
            f"{v['val_bpc']:.3f}",
            Text(f"{v['causal_val_bpc']:.3f}", style="bold red" if leak else ""),
            f"{v['val_loss']:.3f}",
            f"{v['causal_val_loss']:.3f}",
            f"{v['parameters']:,}",
            f"{v['ms_per_step']:.2f}",
            f"{v['tokens_per_second']:,.0f}",
            f"{v['peak_memory_mb']:.1f}",
        )
    notes = Table.grid(padding=(0, 1))
    for v in report["variants"]:
        if v["name"] != "baseline":
            notes.add_row(Text(v["name"], style="bold"), Text(f"{v['question']} {v['shows']}"))
    return Group(table, notes)
