"""The Experiments screen's notes: the verdicts and questions of a race, or of a scenario
before it runs."""

from __future__ import annotations

from rich.text import Text

from core import SCENARIOS
from tui.studio.widgets.experiments.race import Lane, rgb


def race_notes(lanes: list[Lane], verdicts: list[dict] | None = None) -> Text:
    """The verdicts, computed from the numbers (each lesson only where they agree with it);
    then one line per variant of the question it answers, then its sample."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for verdict in verdicts or ():
        agrees = verdict.get("agrees")
        text.append(
            ("✓ " if agrees else "· ") + str(verdict.get("line")) + "\n",
            style="green" if agrees else "yellow",
        )
        if agrees and verdict.get("lesson"):
            text.append(f"  why: {verdict['lesson']}\n", style="dim")
    if verdicts:
        text.append("\n")
    else:
        text.append("the verdicts come from the numbers when the race ends\n\n", style="dim")
    width = max((len(lane.name) for lane in lanes), default=0) + 2
    for lane in lanes:
        text.append(f"{lane.name:<{width}}", style=f"bold {rgb(lane.color)}")
        # the question only: what a variant shows is said beside its verdict, if it agrees
        text.append(lane.question + "\n", style="bold" if lane.name != "baseline" else "dim")
    samples = [lane for lane in lanes if lane.result and lane.result.get("sample")]
    if samples:
        text.append("\nsamples at the end (same prompt and seed)\n", style="bold")
    for lane in samples:
        sample = " ".join(str(lane.result["sample"]).split())
        text.append(f"{lane.name:<{width}}", style=f"bold {rgb(lane.color)}")
        text.append(sample[:300] + "\n")
    text.rstrip()
    return text


def scenario_notes(name: str) -> Text:
    """Before a scenario's race: its question, its setting and the comparisons it makes."""
    scenario = SCENARIOS[name]
    text = Text()
    text.append(f"scenario {name}: ", style="bold")
    text.append(scenario.question + "\n")
    text.append(f"setting: {scenario.setting}\n", style="dim")
    for check in scenario.checks:
        text.append(f"compares {check.arm} with {check.reference}; ", style="dim")
        text.append("the verdict comes from the numbers when the race ends\n", style="dim")
    text.rstrip()
    return text
