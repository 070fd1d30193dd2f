"""The Training X-ray: per-layer gradient norms over evaluations as a heat map (clips marked), the
latest update/weight ratios and residual norms, and a probe text's attention as a time-lapse."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from core import StepMetrics, TrainingXray
from tui.studio.widgets.common.cells import heat_color, shade_cell, shade_legend, token_label
from tui.studio.widgets.model.xray import LAYER_HEAD_BINDINGS

LABEL = 5  # characters of a row label ("L12 ")
BAR = 20  # characters of the longest bar
MAX_MAPS = 64  # evaluations whose attention maps are kept for stepping back through


class TrainingXrayView(VerticalScroll, can_focus=True):
    """What happens inside each layer while the model trains, one column per evaluation."""

    BINDINGS = [
        Binding("left", "eval(-1)", "Earlier", show=False),
        Binding("right", "eval(1)", "Later eval", key_display="←→"),
        *LAYER_HEAD_BINDINGS,
    ]

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.columns: list[tuple[int, bool, tuple[float, ...]]] = []  # (step, clipped, norms)
        self.latest: TrainingXray | None = None
        self.latest_step = 0
        self.maps: list[tuple[int, tuple]] = []  # (step, attention[layer][head][query][key])
        self.shown: int | None = None  # index into maps; None follows the newest
        self.xray_layer = self.xray_head = 0

    def compose(self) -> ComposeResult:
        yield Static(id="training-xray-body")

    def on_mount(self) -> None:
        self.border_title = "Training X-ray (v: back to the plots)"
        self.redraw()

    def new_run(self, name: str) -> None:
        """Forget the last run's X-ray: the view shows the run `name` from its first evaluation."""
        self.columns, self.maps, self.shown = [], [], None
        self.latest, self.latest_step = None, 0
        self.xray_layer = self.xray_head = 0
        self.border_title = f"Training X-ray of {name} (v: back to the plots)"
        self.redraw()

    def add(self, metrics: StepMetrics) -> None:
        """Take one evaluation step's X-ray; a step at or before the last one starts a new run."""
        xray = metrics.xray
        if xray is None:
            return
        if self.columns and metrics.step <= self.columns[-1][0]:
            self.columns, self.maps, self.shown = [], [], None
        self.columns.append((metrics.step, metrics.clipped, xray.grad_norms))
        self.latest, self.latest_step = xray, metrics.step
        self.maps = [*self.maps, (metrics.step, xray.attention)][-MAX_MAPS:]
        if self.shown is not None:
            self.shown = max(0, self.shown - (len(self.columns) > MAX_MAPS))
        if self.display:
            self.redraw()

    def toggle_on(self, screen: Screen) -> None:
        """Show this view in place of the screen's plots and focus it, or hide it again."""
        screen.toggle_class("-xray")
        screen.set_focus(self if screen.has_class("-xray") else None)

    def on_show(self) -> None:
        self.redraw()

    # --- keys -------------------------------------------------------------------------------
    def action_eval(self, delta: int) -> None:
        if not self.maps:
            return
        index = (len(self.maps) - 1 if self.shown is None else self.shown) + delta
        index = min(len(self.maps) - 1, max(0, index))
        self.shown = None if index == len(self.maps) - 1 else index
        self.redraw()

    def action_layer(self, delta: int) -> None:
        if self.latest is not None:
            self.xray_layer = (self.xray_layer + delta) % len(self.latest.attention)
            self.xray_head = min(self.xray_head, len(self.latest.attention[self.xray_layer]) - 1)
            self.redraw()

    def action_head(self, delta: int) -> None:
        if self.latest is not None:
            self.xray_head = (self.xray_head + delta) % len(self.latest.attention[self.xray_layer])
            self.redraw()

    # --- drawing ----------------------------------------------------------------------------
    def redraw(self) -> None:
        if not self.is_mounted:
            return
        body = self.query_one("#training-xray-body", Static)
        if self.latest is None:
            body.update(
                Text(
                    "No X-ray yet: each evaluation of a studio run brings one column of per-layer "
                    "gradient norms, the update/weight ratios, residual norms and the attention "
                    "of a fixed probe text. (A watched metrics log holds none.)",
                    style="dim",
                )
            )
            return
        width = max(10, self.size.width - 2)
        parts = [self.heat_map(width), self.layer_bars(), self.attention_map()]
        body.update(Text("\n").join(parts))

    def heat_map(self, width: int) -> Text:
        """Rows are layers, columns evaluations; the shade is the log gradient norm."""
        columns = self.columns[-max(1, width - LABEL) :]
        logs = [math.log10(max(n, 1e-12)) for _, _, norms in columns for n in norms]
        low, high = min(logs), max(logs)
        text = Text("log grad norm per layer, one column per eval ", style="bold")
        text.append(f"(1e{low:.1f}..1e{high:.1f}; ! clipped)\n", style="dim")
        for layer in range(len(columns[-1][2])):
            text.append(f"L{layer}".ljust(LABEL), style="dim")
            for _, _, norms in columns:
                value = math.log10(max(norms[layer], 1e-12)) if layer < len(norms) else low
                level = (value - low) / (high - low) if high > low else 1.0
                text.append_text(shade_cell(max(level, 1e-3)))
            text.append("\n")
        text.append(" " * LABEL)
        text.append("".join("!" if clipped else " " for _, clipped, _ in columns), style="red")
        text.append(f"\n{' ' * LABEL}step {columns[0][0]}..{columns[-1][0]}\n", style="dim")
        return text

    def layer_bars(self) -> Text:
        """The update/weight ratio and residual RMS of each layer at the latest evaluation."""
        xray = self.latest
        text = Text(f"at step {self.latest_step}: ", style="bold")
        text.append("|Δw|/|w| of the update; residual RMS on the probe\n", style="dim")
        ratio_top = max(xray.update_ratios) or 1.0
        residual_top = max(xray.residual_norms) or 1.0
        for layer, (ratio, residual) in enumerate(
            zip(xray.update_ratios, xray.residual_norms, strict=True)
        ):
            text.append(f"L{layer}".ljust(LABEL), style="dim")
            text.append(f"{ratio:9.2e} ")
            text.append("█" * max(1, round(BAR * ratio / ratio_top)), style=heat_color(0.6))
            text.append(" " * (BAR + 2 - max(1, round(BAR * ratio / ratio_top))))
            text.append(f"rms {residual:7.3f} ")
            text.append("█" * max(1, round(BAR * residual / residual_top)), style=heat_color(1.0))
            text.append("\n")
        return text

    def attention_map(self) -> Text:
        """The probe text's attention for the chosen layer and head at the chosen evaluation."""
        index = len(self.maps) - 1 if self.shown is None else self.shown
        step, attention = self.maps[index]
        weights = attention[self.xray_layer][self.xray_head]  # (T, T)
        tokens = self.latest.probe_tokens
        latest = self.latest
        layer = latest.attention_layer(self.xray_layer)
        text = Text(f"attention layer {layer} head {self.xray_head}, step {step} ", style="bold")
        kept = len(latest.attention)
        some = (
            f"{kept} of {len(latest.grad_norms)} layers kept; "
            if latest.attention_layers and kept < len(latest.grad_norms)
            else ""
        )
        text.append(
            f"(eval {index + 1}/{len(self.maps)}; {some}←→ eval, l/h layer/head)\n",
            style="dim",
        )
        text.append(" " * LABEL)
        text.append("".join(token_label(token, 1) + " " for token in tokens) + "\n", style="dim")
        for query, row in enumerate(weights):
            text.append(token_label(tokens[query], LABEL - 1) + " ", style="dim")
            for key, value in enumerate(row):
                text.append_text(shade_cell(value, 2) if key <= query else Text("  "))
            text.append("\n")
        text.append_text(shade_legend())
        return text
