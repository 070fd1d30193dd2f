"""How `minigpt experiment` shows a race: the live table, the results with their seed spread,
the verdicts, the instruments and, for several scenarios, one summary line each."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from core import LEAK_NATS, SCENARIOS, VARIANTS

BARS = " ▁▂▃▄▅▆▇█"


def scenario_table() -> Table:
    rows = [(s.name, s.question, s.setting) for s in SCENARIOS.values()]
    title = "scenarios (minigpt experiment --scenario NAME, or all)"
    return _listing(title, ("scenario", "question", "the setting in which it shows"), rows)


def variant_table() -> Table:
    rows = [(v.name, v.question, v.shows) for v in VARIANTS.values()]
    title = "variants (minigpt experiment --variants a,b,...)"
    return _listing(title, ("variant", "question", "what the race shows"), rows)


def _listing(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def live_table(names: list[str], points: dict[str, dict[int, object]], steps: int) -> Table:
    """Each arm's latest evaluation, averaged over the seeds that reached it."""
    table = Table(title=f"race: {steps} steps per variant")
    table.add_column("variant", no_wrap=True)
    for column in ("step", "seeds", "train loss", "causal val loss"):
        table.add_column(column, justify="right")
    for name in names:
        seen = points.get(name, {})
        if not seen:
            table.add_row(name, "-", "-", "-", "-")
            continue
        step = min(point.step for point in seen.values())
        latest = [point for point in seen.values() if point.step == step]
        train = [p.train_loss for p in latest if math.isfinite(p.train_loss)]
        causal = [p.causal_val_loss for p in latest]
        table.add_row(
            name,
            str(step),
            str(len(latest)),
            f"{sum(train) / len(train):.3f}" if train else "-",
            f"{sum(causal) / len(causal):.3f}",
        )
    return table


def _plus_minus(value: float, spread: float, seeds: int) -> str:
    if not math.isfinite(value):
        return "diverged"
    return f"{value:.3f} ± {spread:.3f}" if seeds > 1 else f"{value:.3f}"


def results_table(report: dict) -> Table:
    """Mean ± seed spread (half the range) of the causal loss; the best is the lowest causal
    validation loss, never the loss a leaking variant reports for itself."""
    seeds = int(report.get("seeds") or 1)
    scenario = report.get("scenario")
    title = f"scenario {scenario}: " if scenario else "race results: "
    table = Table(
        title=f"{title}{report.get('steps')} steps, {seeds} seed{'s' * (seeds > 1)} per variant "
        "(validation loss under the real causal mask; ± half the seeds' range)"
    )
    table.add_column("variant", no_wrap=True)
    for column in ("causal loss", "causal bpc", "own loss", "params", "ms/step", "tok/s", "MB"):
        table.add_column(column, justify="right")
    variants = report["variants"]
    finite = [v["causal_val_loss"] for v in variants if math.isfinite(v["causal_val_loss"])]
    best = min(finite, default=None)
    for v in variants:
        leak = v["causal_val_loss"] > v["val_loss"] + LEAK_NATS
        name = Text(v["name"], style="bold" if v["causal_val_loss"] == best else "")
        table.add_row(
            name + (" ★" if v["causal_val_loss"] == best else ""),
            Text(
                _plus_minus(v["causal_val_loss"], v.get("causal_spread", 0.0), seeds),
                style="bold red" if leak else "",
            ),
            f"{v['causal_val_bpc']:.3f}",
            f"{v['val_loss']:.3f}",
            f"{v['parameters']:,}",
            f"{v['ms_per_step']:.2f}",
            f"{v['tokens_per_second']:,.0f}",
            f"{v['peak_memory_mb']:.1f}",
        )
    return table


def verdict_lines(report: dict) -> Group:
    """Each verdict, computed from the numbers; the lesson beside it only where they agree."""
    lines = []
    scenario = report.get("scenario")
    for verdict in report.get("verdicts", ()):
        agrees = verdict["agrees"]
        mark, style = ("✓", "green") if agrees else ("·", "yellow")
        if not verdict.get("expect"):  # kept for comparison: the lesson predicts nothing
            mark, style = "→", ""
        lines.append(Text(f"{mark} {verdict['line']}", style=style))
        if not verdict.get("expect") and verdict.get("note"):
            lines.append(Text(f"  {verdict['note']}", style="dim"))
        if agrees and verdict["lesson"]:
            lines.append(Text(f"  why: {verdict['lesson']}", style="dim"))
        elif not agrees and not scenario and verdict["arm"] in _taught():
            lines.append(
                Text(
                    f"  the lesson needs its setting: minigpt experiment --scenario "
                    f"{_taught()[verdict['arm']]}",
                    style="dim",
                )
            )
    return Group(*lines)


def _taught() -> dict[str, str]:
    """Variant -> the scenario that shows its lesson."""
    taught = {}
    for scenario in SCENARIOS.values():
        for arm in scenario.arms:
            taught.setdefault(arm.variant, scenario.name)
    taught.pop("baseline", None)
    return taught


def instrument_lines(report: dict) -> Group:
    """What the scenario's instruments measured, one block per instrument."""
    lines: list[Text] = []
    variants = [v for v in report["variants"] if v.get("instruments")]
    if any("attention_end" in v["instruments"] for v in variants):
        lines.append(Text("attention (every head, 4 validation sequences)", style="bold"))
        for v in variants:
            found = v["instruments"]
            stages = [("init", found.get("attention_init"))]
            early = found.get("attention_early")
            if early:
                stages.append((f"step {early['step']}", early))
            stages.append(("end", found.get("attention_end")))
            if all(stage for _, stage in stages):
                spread = " → ".join(f"{s['score_spread']:.2f}" for _, s in stages)
                entropy = " → ".join(f"{s['entropy_bits']:.2f}" for _, s in stages)
                when = ", ".join(label for label, _ in stages)
                lines.append(
                    Text(
                        f"  {v['name']:<12} score spread {spread}; row entropy {entropy} bits "
                        f"({when}; uniform {stages[-1][1]['uniform_bits']:.2f})"
                    )
                )
    if any("grad_flow" in v["instruments"] for v in variants):
        lines.append(
            Text("gradient norm per block, first 10 steps (first block … last)", style="bold")
        )
        for v in variants:
            norms = v["instruments"].get("grad_flow")
            if norms:
                first, last = norms[0], norms[-1]
                ratio = f"{first / last:.2g}x" if last > 0 else "-"
                lines.append(Text(f"  {v['name']:<12} {_bars(norms)}  first/last block {ratio}"))
    if any("step_sizes" in v["instruments"] for v in variants):
        lines.append(
            Text("update size |Δw| per weight, one step mid-race (1e-9 … 1)", style="bold")
        )
        for v in variants:
            shares = v["instruments"].get("step_sizes")
            if shares:
                peak = max(range(len(shares)), key=shares.__getitem__)
                lines.append(
                    Text(f"  {v['name']:<12} {_bars(shares)}  most near 1e{-9 + peak / 2:.1f}")
                )
    spike = report.get("spike")
    if spike:
        lines.append(
            Text(
                f"spike: every gradient x{spike['factor']:g} at step {spike['step']}",
                style="bold",
            )
        )
        for v in report["variants"]:
            norm = (v.get("instruments") or {}).get("spike_grad_norm")
            clip = "clipped to 1" if v["name"] != "no-clip" else "applied whole"
            if norm is not None:
                lines.append(Text(f"  {v['name']:<12} gradient norm {norm:,.0f}, {clip}"))
    return Group(*lines)


def _bars(values: list[float]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(BARS[min(8, round(8 * value / top))] for value in values)


def summary_table(reports: list[dict], cpu: str) -> Table:
    """One row per scenario: its verdicts, margins, noise and seconds."""
    table = Table(title=f"scenarios: verdicts ({cpu})")
    for column in ("scenario", "verdict", "agrees", "margin", "noise", "seconds"):
        table.add_column(column, justify="left" if column in ("scenario", "verdict") else "right")
    for report in reports:
        verdicts = report.get("verdicts") or [{}]
        for i, verdict in enumerate(verdicts):
            table.add_row(
                report.get("scenario", "") if i == 0 else "",
                verdict.get("line", "-"),
                "-" if not verdict.get("expect") else "yes" if verdict.get("agrees") else "NO",
                f"{verdict.get('margin', math.nan):+.3f}",
                f"±{verdict.get('noise', math.nan):.3f}",
                f"{report.get('seconds', math.nan):.0f}" if i == 0 else "",
            )
    return table
