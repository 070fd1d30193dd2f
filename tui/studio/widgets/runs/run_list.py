"""The Runs screen's parts: the table of past runs and races, the highlighted run's details and
its loss curves."""

from __future__ import annotations

import threading
import time

from rich.text import Text
from textual_plotext import Plot

from core import Config, LossCurves, RunStatus, RunSummary, preset_name
from tui.studio.formatting import format_count
from tui.studio.series import Series
from tui.studio.widgets.common.plots import (
    SERIES_CAPACITY,
    SMOOTH,
    SMOOTH_COLOR,
    VAL,
    VAL_COLOR,
    MetricPlot,
)

COLUMNS = ("run", "when", "shape", "steps", "train loss", "best val", "tokens", "state")
NOTED_COLUMNS = (*COLUMNS, "note")  # where there is room for a note's first words
NARROW_COLUMNS = ("run", "state", "steps", "best val", "train loss", "when")  # the rest: details
STATE_STYLES = {
    RunStatus.FINISHED: "green",
    RunStatus.STOPPED: "yellow",
    RunStatus.RUNNING: "bold cyan",
    RunStatus.DAMAGED: "bold red",
}
STATE_WIDTH = 60  # characters of a damaged run's reason in the table; the details show it all
NOTE_WIDTH = 32  # characters of a note in the table; the details show it all
MARK = "◆ "  # a run marked to compare
DESIGN_DEFAULTS = Config()  # the design switches a config shows only where it differs
DESIGN_SWITCHES = (
    "attention_mask",
    "attention_scale",
    "norm_placement",
    "residual",
    "feed_forward",
    "position_embedding",
    "embedding_combine",
    "optimizer",
)


def flatten(summaries: list[RunSummary]) -> list[RunSummary]:
    """Table order: each run, and each race followed by its variants."""
    rows = []
    for summary in summaries:
        rows.append(summary)
        rows.extend(summary.variants)
    return rows


def shape_text(config: Config | None) -> str:
    """`tiny 2x32 h2 b16 char`: the preset (if the shape is one), layers x width, heads, block
    and tokenizer."""
    if config is None:
        return "-"
    preset = preset_name(config)
    shape = (
        f"{config.num_layers}x{config.embedding_dim} h{config.num_heads} b{config.block_size} "
        f"{config.tokenizer}"
    )
    return f"{preset} {shape}" if preset else shape


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row_cells(
    summary: RunSummary, columns: tuple[str, ...] = COLUMNS, marked: bool = False
) -> tuple:
    """The table's cells for one run, race or race variant, in the order of `columns`; a
    marked row starts with ◆, and a noted one ends its name with ✎ where no note column is."""
    variant = summary.kind == "variant"
    if variant:
        name = Text(f"  └ {summary.name}", style="dim")
    elif summary.kind == "experiment":
        name = Text(f"▾ {summary.name}", style="bold")
    else:
        name = Text(summary.name, style="bold")
    if marked:
        name = Text(MARK, style="bold magenta") + name
    if summary.note and "note" not in columns:
        name.append(" ✎", style="italic")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.modified))
    width = STATE_WIDTH
    if columns == NARROW_COLUMNS:  # month, day and time, and a shorter state
        when, width = when[5:], STATE_WIDTH // 2
    planned = "?" if summary.max_steps is None else str(summary.max_steps)
    state = _cut(summary.state_text, width)
    cells = {
        "run": name,
        "when": "" if variant else when,
        "shape": shape_text(summary.config),
        "steps": f"{summary.step}/{planned}",
        "train loss": _loss(summary.train_loss),
        "best val": _loss(summary.best_val_loss) + (" leaks" if summary.leaks else ""),
        "tokens": "-" if summary.tokens_seen is None else format_count(summary.tokens_seen),
        "state": Text(state, style=STATE_STYLES[summary.status]),
        "note": Text(_cut(summary.note or "", NOTE_WIDTH), style="italic"),
    }
    return tuple(cells[column] for column in columns)


def config_text(config: Config, vocab_size: int | None) -> Text:
    """The settings of a run, a few to a line, design switches only where they differ."""
    vocab = f"vocab {vocab_size} ({config.tokenizer})" if vocab_size else config.tokenizer
    lines = [
        f"layers {config.num_layers} · heads {config.num_heads} · width {config.embedding_dim}"
        f" · ffn {config.hidden_dim} · block {config.block_size} · {vocab}",
        f"batch {config.batch_size} x {config.grad_accum} · lr {config.learning_rate:g} · warm-up "
        f"{config.warmup_steps} · steps {config.max_steps} · eval every {config.eval_interval}",
        f"clip {config.grad_clip:g} · dropout {config.dropout:g} · weight decay "
        f"{config.weight_decay:g} · seed {config.seed} · precision {config.precision}",
    ]
    design = [
        f"{name} {getattr(config, name)}"
        for name in DESIGN_SWITCHES
        if getattr(config, name) != getattr(DESIGN_DEFAULTS, name)
    ]
    if design:
        lines.append("design: " + " · ".join(design))
    return Text("\n".join(lines))


def details(summary: RunSummary, commands: list[str]) -> Text:
    """The detail pane: where the run is, its state, its settings and the commands it ran."""
    text = Text()
    text.append(summary.name, style="bold")
    text.append(f"  {summary.path}\n", style="dim")
    if summary.note:
        text.append(f"✎ {summary.note}\n", style="italic")
    text.append(summary.state_text, style=STATE_STYLES[summary.status])
    if summary.tokens_seen is not None:
        text.append(f" · {shape_text(summary.config)} · {format_count(summary.tokens_seen)} tokens")
    text.append("\n")
    if summary.config is not None:
        text.append_text(config_text(summary.config, summary.vocab_size))
        text.append("\n")
    if summary.corpus is not None:
        text.append(f"corpus {summary.corpus}\n")
    if summary.kind == "experiment":
        names = ", ".join(variant.name for variant in summary.variants)
        text.append(f"race of {len(summary.variants)} variants: {names}\n", style="dim")
        text.append("its variants keep curves, not weights; reopen it on Experiments (o)\n")
        return text
    if summary.kind == "variant":
        text.append(
            "a variant of the race above: validation loss under the real causal mask at each "
            "evaluation\n",
            "dim",
        )
        if summary.leaks:
            text.append(
                "it leaks: its own validation loss, computed with its mask, was lower than any "
                "model can reach on unseen text\n",
                "bold red",
            )
        return text
    text.append("command.txt\n", style="bold")
    if commands:
        for line in commands[-6:]:
            text.append(f"  {line}\n")
    else:
        text.append("  none recorded (an older studio run)\n", style="dim")
    return text


class RunCurvePlot(MetricPlot):
    """The highlighted run's training loss (smoothed over each column) and validation points."""

    title = "Loss of the highlighted run (nats)"
    placeholder = "the highlighted run's loss curves appear here"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.losses = Series(SERIES_CAPACITY)
        self.val: tuple[tuple[int, ...], tuple[float, ...]] = ((), ())
        self._lock = threading.Lock()

    def show(self, curves: LossCurves) -> None:
        self.losses.clear()
        for step, loss in zip(curves.steps, curves.losses, strict=True):
            self.losses.append(step, loss)
        with self._lock:
            self.val = (curves.val_steps, curves.val_losses)
        self.changed()

    @property
    def has_data(self) -> bool:
        return self.losses.count > 0 or bool(self.val[0])

    def legend(self) -> str:
        return f"[{SMOOTH}]⣿ train (mean per column)[/] [{VAL}]● validation[/]"

    def draw(self, plt: Plot, width: int) -> None:
        envelope = self.losses.envelope(width)
        with self._lock:
            val_steps, val_losses = self.val
        if envelope.xs:
            plt.plot(envelope.xs, envelope.means, marker="braille", color=SMOOTH_COLOR)
        if val_steps:
            plt.scatter(val_steps, val_losses, marker="●", color=VAL_COLOR)
        self.step_ticks(plt, max(envelope.xs[-1:] + val_steps[-1:]), 3)
        values = envelope.means + val_losses
        plt.ylim(max(0.0, min(values) - 0.1), max(values) + 0.1)
