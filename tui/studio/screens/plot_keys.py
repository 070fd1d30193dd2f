"""The Train screen's plot keys: the x axis, the smoothing, a log y, the window of steps, and
clearing the past runs drawn over the loss (they are marked on the Runs screen)."""

from __future__ import annotations

from textual.binding import Binding

from tui.studio.widgets.common.bars import KeyBar
from tui.studio.widgets.common.plot_view import window_name
from tui.studio.widgets.common.plots import SMOOTHING_WEIGHTS, LossPlot, smoothing_label
from tui.studio.widgets.train.training_plots import TrainingPlots

PLOT_BINDINGS = [
    Binding("a", "axis", "x axis"),
    Binding("m", "smoothing", "Smooth"),
    Binding("y", "log_y", "Log y"),  # key_label: what the next press gives
    Binding("z", "window", "Window"),
    Binding("o", "clear_overlays", "Clear overlays"),  # shown while some are drawn
]


class PlotKeys:
    """The actions of PLOT_BINDINGS, for a screen that holds TrainingPlots and a KeyBar."""

    def action_axis(self) -> None:
        """The plots' x axis: steps, tokens seen, training time."""
        mode = self.query_one(TrainingPlots).cycle_axis()
        self.notify(f"x axis: {mode}")

    def action_smoothing(self) -> None:
        """The loss curve's smoothing weight, in turn: raw, 0.6 ... 0.99 (as TensorBoard's), for
        the run and the past runs drawn over it alike."""
        plot, weights = self.query_one(LossPlot), SMOOTHING_WEIGHTS
        weight = weights[(weights.index(plot.smoothing) + 1) % len(weights)]
        self.query_one(TrainingPlots).set_smoothing(weight)
        self.update_status()
        self.notify(f"Loss curves and status: {smoothing_label(plot.smoothing)}.")

    def action_log_y(self) -> None:
        """The loss and gradient-norm plots on a log or a linear y axis."""
        log = self.query_one(TrainingPlots).toggle_log()
        self.query_one(KeyBar).show_keys()
        self.notify(
            "Loss and grad norm: log y (values ≤ 0 left out, counted in the title)."
            if log
            else "Loss and grad norm: linear y."
        )

    def action_window(self) -> None:
        """The loss and gradient-norm plots over the whole run or its last 2000, 500, 100 steps."""
        window = self.query_one(TrainingPlots).cycle_window()
        self.query_one(KeyBar).show_keys()
        if window is None:
            self.notify("Loss and grad norm: the whole run.")
        else:
            self.notify(f"Loss and grad norm: the {window_name(window)}, from each step's value.")

    def action_clear_overlays(self) -> None:
        count = self.query_one(TrainingPlots).clear_overlays()
        self.query_one(KeyBar).show_keys()
        if count:
            self.notify(f"{count} overlay(s) taken off the loss plot.")
        else:
            self.notify("No overlays to clear: mark runs on the Runs screen (6, then g).")

    def plot_key_label(self, action: str) -> str | None:
        """y and z say what the next press shows."""
        plots = self.query_one(TrainingPlots)
        if action == "log_y":
            return "Linear y" if plots.view.log_y else "Log y"
        if action == "window":
            return window_name(plots.view.next_window, short=True).capitalize()
        return None

    def key_shown(self, action: str) -> bool:
        if action == "clear_overlays":
            return len(self.query_one(TrainingPlots).overlays) > 0
        return True
