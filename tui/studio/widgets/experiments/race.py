"""The Experiments screen's widgets and their data: the race's lanes, curves and table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from rich.text import Text
from textual.widgets import DataTable
from textual_plotext import Plot

from core import LEAK_NATS, VARIANTS
from tui.studio.formatting import format_count
from tui.studio.widgets.common.plots import MetricPlot

COLORS = (
    (235, 235, 235), (255, 170, 0), (80, 200, 255), (150, 220, 120), (220, 80, 220),
    (255, 90, 90), (240, 230, 90), (90, 140, 255), (60, 220, 190), (255, 140, 190),
    (170, 120, 255), (200, 160, 110), (130, 255, 90), (255, 200, 150), (140, 170, 190),
    (255, 110, 40),
)  # fmt: skip
COLUMNS = (
    ("variant", "variant"), ("step", "step"), ("causal", "causal loss"), ("spread", "± seeds"),
    ("causal-bpc", "causal bpc"), ("loss", "own loss"), ("params", "params"), ("ms", "ms/step"),
    ("tok", "tok/s"), ("memory", "MB"), ("same-step", "@ same step"),
    ("same-time", "@ same time"),
)  # fmt: skip


def question_of(name: str) -> str:
    """The question a variant answers; the baseline answers none, it is the reference."""
    if name == "baseline" or name not in VARIANTS:
        return "the reference design, always raced"
    return VARIANTS[name].question


def rgb(color: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*color)


class Point(NamedTuple):
    """One evaluation of one variant, as the race reports it and race.json keeps it."""

    step: int
    seconds: float  # training seconds so far, evaluations excluded
    val_loss: float
    val_bpc: float
    causal_val_loss: float
    causal_low: float = math.nan  # the lowest and highest seed's causal loss
    causal_high: float = math.nan

    @property
    def causal_bpc(self) -> float:
        """The causal loss in bits per character (the same factor turns nats into bpc)."""
        return self.to_bpc(self.causal_val_loss)

    def to_bpc(self, loss: float) -> float:
        if not self.val_loss > 0:
            return self.val_bpc
        return loss * self.val_bpc / self.val_loss


def mean_point(points: list[Point]) -> Point:
    """The seeds' mean at one evaluation, with the band of their causal losses."""
    causal = [p.causal_val_loss for p in points]
    count = len(points)
    return Point(
        points[0].step,
        sum(p.seconds for p in points) / count,
        sum(p.val_loss for p in points) / count,
        sum(p.val_bpc for p in points) / count,
        sum(causal) / count,
        min(causal),
        max(causal),
    )


@dataclass
class Lane:
    """One variant in the race: its curve so far and, once it ends, its figures and sample."""

    name: str
    question: str
    shows: str
    color: tuple[int, int, int]
    tokens_per_step: int | None = None  # batch x block, for tok/s before the race ends
    points: list[Point] = field(default_factory=list)  # the mean over seeds
    result: dict | None = None  # results_to_dict's entry: figures, curve and sample
    seeds: int = 1
    by_seed: dict[int, list[Point]] = field(default_factory=dict)

    def add(self, seed: int, point: Point) -> None:
        """One seed's evaluation; the mean curve grows once every seed has reached it."""
        self.by_seed.setdefault(seed, []).append(point)
        runs = [self.by_seed.get(i, []) for i in range(self.seeds)]
        reached = min(len(run) for run in runs)
        while len(self.points) < reached:
            self.points.append(mean_point([run[len(self.points)] for run in runs]))

    @property
    def spread(self) -> float:
        """Half the seeds' range of the last causal loss (0 with one seed)."""
        if not self.points or self.seeds < 2:
            return 0.0
        last = self.points[-1]
        return (last.causal_high - last.causal_low) / 2

    @property
    def leaks(self) -> bool:
        """Its loss under the real causal mask is worse than the one it reports."""
        return any(p.causal_val_loss > p.val_loss + LEAK_NATS for p in self.points)


def new_lanes(
    names: list[str],
    tokens_per_step: dict[str, int],
    seeds: int = 1,
    variants: dict[str, str] | None = None,
) -> list[Lane]:
    """Empty lanes for a race that is about to start, the reference first; `variants` maps a
    scenario's arm to the catalogue variant it applies."""
    variants = variants or {}
    lanes = []
    for i, name in enumerate(names):
        variant = VARIANTS[variants.get(name, name)]
        lanes.append(
            Lane(
                name,
                question_of(variant.name),
                variant.shows,
                COLORS[i % len(COLORS)],
                tokens_per_step.get(name),
                seeds=seeds,
            )
        )
    return lanes


def lanes_from_report(report: dict) -> list[Lane]:
    """The lanes of a finished or saved race (`results_to_dict`'s form)."""
    lanes = []
    for i, values in enumerate(report["variants"]):
        points = [
            Point(
                int(p["step"]),
                float(p["seconds"]),
                float(p["val_loss"]),
                float(p["val_bpc"]),
                float(p["causal_val_loss"]),
                float(p.get("causal_low", math.nan)),
                float(p.get("causal_high", math.nan)),
            )
            for p in values.get("curve", ())
        ]
        lanes.append(
            Lane(
                str(values["name"]),
                question_of("baseline")
                if values.get("variant", values["name"]) == "baseline"
                else str(values.get("question", "")),
                str(values.get("shows", "")),
                COLORS[i % len(COLORS)],
                points=points,
                result=values,
                seeds=int(values.get("seeds", 1)),
            )
        )
    return lanes


def same_step(lanes: list[Lane]) -> int | None:
    """The latest step every variant has been evaluated at."""
    if not lanes or any(not lane.points for lane in lanes):
        return None
    return min(lane.points[-1].step for lane in lanes)


def same_seconds(lanes: list[Lane]) -> float | None:
    """The training time every variant has had: the smallest one's last seconds."""
    if not lanes or any(not lane.points for lane in lanes):
        return None
    seconds = min(lane.points[-1].seconds for lane in lanes)
    return seconds if seconds > 0 else None


def bpc_at_step(lane: Lane, step: int) -> float:
    """Causal bpc at the last evaluation at or before `step`."""
    earlier = [p for p in lane.points if p.step <= step]
    return earlier[-1].causal_bpc if earlier else math.nan


def bpc_at_seconds(lane: Lane, seconds: float) -> float:
    """Causal bpc interpolated along the curve at `seconds` of training."""
    points = lane.points
    for before, after in zip(points, points[1:], strict=False):
        if before.seconds <= seconds <= after.seconds:
            span = after.seconds - before.seconds
            share = 0.0 if span <= 0 else (seconds - before.seconds) / span
            return before.causal_bpc + share * (after.causal_bpc - before.causal_bpc)
    return points[-1].causal_bpc if points and points[-1].seconds <= seconds else math.nan


def _figure(value: float | None, form: str) -> str:
    return "…" if value is None or not math.isfinite(value) else format(value, form)


def race_plot_heading(seconds_axis: bool, short: bool = False) -> str:
    """The race plot's title, naming its x axis; `short` for a narrow border."""
    title = "validation bpc" if short else RacePlot.title
    return f"{title} vs {'training seconds' if seconds_axis else 'step'}"


class RacePlot(MetricPlot):
    """Validation bits per character of every variant, one colour each; dotted where the loss
    under the real causal mask differs from the one the variant trained under."""

    title = "Validation bits per character (lower is better)"
    placeholder = "start a race (t) or open a saved one (o): each variant's curve appears here"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # replaced whole, never changed in place, so the builder thread reads a consistent one
        self.curves: tuple[tuple[str, tuple[int, int, int], tuple[Point, ...]], ...] = ()
        self.seconds_axis = False

    def show(self, lanes: list[Lane]) -> None:
        # a race evaluates about ten times, so each curve stays a dozen points or so: far
        # fewer than the plot's columns, with no envelope to reduce them to
        self.curves = tuple((lane.name, lane.color, tuple(lane.points)) for lane in lanes)
        self.changed()

    def toggle_axis(self) -> None:
        self.seconds_axis = not self.seconds_axis
        self.changed()
        if self.is_mounted:
            self.show_labels()

    def headings(self) -> tuple[str, ...]:
        return (race_plot_heading(self.seconds_axis), race_plot_heading(self.seconds_axis, True))

    @property
    def has_data(self) -> bool:
        return any(points for _, _, points in self.curves)

    def legend(self) -> str:
        parts = [f"[{rgb(color)}]━ {name}[/]" for name, color, _ in self.curves]
        if any(p.causal_val_loss != p.val_loss for _, _, ps in self.curves for p in ps):
            parts.append("[dim]·· the same weights under the real causal mask[/]")
        if any(math.isfinite(p.causal_low) for _, _, ps in self.curves for p in ps):
            parts.append("[dim]⠂⠂ the seeds' band (lowest and highest)[/]")
        return " ".join(parts)

    def draw(self, plt: Plot, width: int) -> None:
        curves, seconds = self.curves, self.seconds_axis
        last_x, values = 0.0, []
        for _, color, points in curves:
            if not points:
                continue
            xs = [p.seconds if seconds else p.step for p in points]
            last_x = max(last_x, xs[-1])
            plt.plot(xs, [p.val_bpc for p in points], marker="braille", color=color)
            values += [p.val_bpc for p in points]
            if any(p.causal_val_loss != p.val_loss for p in points):
                plt.plot(xs, [p.causal_bpc for p in points], marker="·", color=color)
                values += [p.causal_bpc for p in points]
            if any(p.causal_low != p.causal_high for p in points if math.isfinite(p.causal_low)):
                for edge in ("causal_low", "causal_high"):  # the seeds' band
                    ys = [p.to_bpc(getattr(p, edge)) for p in points]
                    plt.plot(xs, ys, marker="⠂", color=color)
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            plt.ylim(max(0.0, min(finite) - 0.1), max(finite) + 0.1)
        if seconds:
            plt.xlabel("seconds")
        else:  # whole steps from the untrained start, step 0
            ticks = sorted({round(i * last_x / 4) for i in range(5)})
            plt.xticks(ticks, [str(t) for t in ticks])


class RaceTable(DataTable):
    """Where each variant stands: the figures of the race, and the losses at equal footing."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._add_columns()
        self.border_title = (
            "figures (losses under the real causal mask, ★ the lowest; @ same step / time: "
            "causal bpc)"
        )

    def _add_columns(self) -> None:
        if not self.columns:  # the table may be shown lanes before it is mounted
            for key, label in COLUMNS:
                self.add_column(label, key=key)

    def show(self, lanes: list[Lane]) -> None:
        self._add_columns()
        step, seconds, best = same_step(lanes), same_seconds(lanes), best_lane(lanes)
        if len(self.rows) != len(lanes) or any(
            row.key.value != lane.name for row, lane in zip(self.ordered_rows, lanes, strict=False)
        ):
            self.clear()
            for lane in lanes:
                self.add_row(*self.cells(lane, step, seconds, lane.name == best), key=lane.name)
        else:
            for lane in lanes:
                cells = self.cells(lane, step, seconds, lane.name == best)
                for (key, _), cell in zip(COLUMNS, cells, strict=True):
                    self.update_cell(lane.name, key, cell, update_width=True)
        at_step = "…" if step is None else f"step {step}"
        at_time = "…" if seconds is None else f"{seconds:.2f} s of training (interpolated)"
        self.border_subtitle = f"same step: {at_step} · same time: {at_time}"

    @staticmethod
    def cells(lane: Lane, step: int | None, seconds: float | None, best: bool = False) -> tuple:
        last = lane.points[-1] if lane.points else None
        result = lane.result or {}
        causal_bpc = result.get("causal_val_bpc", last.causal_bpc if last else None)
        causal = result.get("causal_val_loss", last.causal_val_loss if last else None)
        spread = result.get("causal_spread", lane.spread)
        ms = result.get("ms_per_step")  # the median step, once the race reports it
        if ms is None and last is not None and last.step > 0:  # till then the mean so far
            ms = 1000 * last.seconds / last.step
        tokens = result.get("tokens_per_second")
        if tokens is None and ms and lane.tokens_per_step:
            tokens = lane.tokens_per_step / (ms / 1000)
        params = result.get("parameters")
        memory = result.get("peak_memory_mb")
        return (
            Text(lane.name + (" ★" if best else ""), style=f"bold {rgb(lane.color)}"),
            "…" if last is None else str(last.step),
            Text(_figure(causal, ".3f"), style="bold red" if lane.leaks else ""),
            "-" if lane.seeds < 2 else "±" + _figure(spread, ".3f"),
            _figure(causal_bpc, ".3f"),
            _figure(result.get("val_loss", last.val_loss if last else None), ".3f"),
            "…" if params is None else format_count(params),
            _figure(ms, ".2f"),
            "…" if tokens is None else format_count(tokens),
            _figure(memory, ".1f"),
            _figure(None if step is None else bpc_at_step(lane, step), ".3f"),
            _figure(None if seconds is None else bpc_at_seconds(lane, seconds), ".3f"),
        )


def best_lane(lanes: list[Lane]) -> str | None:
    """The lane with the lowest causal validation loss at the step all have reached: a leaking
    variant's own loss never wins."""
    step = same_step(lanes)
    if step is None:
        return None
    at = {
        lane.name: [p for p in lane.points if p.step <= step][-1].causal_val_loss for lane in lanes
    }
    finite = {name: loss for name, loss in at.items() if math.isfinite(loss)}
    return min(finite, key=finite.__getitem__) if finite else None
