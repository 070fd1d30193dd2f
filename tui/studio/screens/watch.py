"""The Train screen watching a run: its metrics.jsonl followed live, read-only, from anywhere."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.worker import get_current_worker

from core import (
    METRICS_FILE,
    Config,
    MetricsCursor,
    StepMetrics,
    is_checkpoint,
    read_metrics,
    run_config,
)
from tui.studio.formatting import format_count, format_duration
from tui.studio.messages import WeightSource
from tui.studio.screens.plot_keys import PLOT_BINDINGS
from tui.studio.screens.train import TrainScreen
from tui.studio.widgets.common.bars import KeyBar, ModeBar
from tui.studio.widgets.train.sample_log import SampleLog
from tui.studio.widgets.train.training import StatusBar
from tui.studio.widgets.train.training_plots import TrainingPlots
from tui.studio.widgets.train.training_xray import TrainingXrayView

POLL_SECONDS = 0.25  # between two reads of the log: at most four messages a second
FOLLOW_SLICE = 2000  # steps a message carries: the UI shows them in well under a second
IN_FLIGHT = 2  # slices posted and not yet shown: a long log is read as fast as it is shown
QUIET_SECONDS = 10.0  # no new step for this long: the status bar says so
# the Train screen's, which a watcher lacks: it has no form, and no snapshots for a tape
CONTROLS = ("start", "pause", "stop", "save", "tape", "toggle_form")


def watched_paths(target: str | Path) -> tuple[Path, Path]:
    """The run folder and its metrics log, given either of them."""
    path = Path(target)
    if path.name == METRICS_FILE or path.is_file():
        return path.parent, path
    return path, path / METRICS_FILE


class WatchScreen(TrainScreen):
    """Follow a run trained elsewhere (the CLI, torchrun, another machine writing to a shared
    folder) through its metrics log: the Train screen's plots and samples, no form, no controls.

    A thread reads the log and posts what it found; the log may grow, be rewritten shorter by a
    resume (then everything is reloaded) or end in a line still being written.
    """

    BINDINGS = [
        Binding("w", "use_weights", "Checkpoint→Generate/Chat"),
        Binding("v", "xray", "X-ray"),
        Binding("a", "axis", "x: steps/tokens/time"),
        *PLOT_BINDINGS[1:],
    ]

    @dataclass
    class Followed(Message):
        """What one read of the log found (the thread posts it; the UI thread shows it)."""

        steps: tuple[StepMetrics, ...]
        restarted: bool  # the log was replaced or cut: `steps` are its lines from the start
        run: tuple[Config, int] | None = None  # the checkpoint's config and vocabulary size

    def __init__(self, target: str | Path, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.folder, self.metrics_path = watched_paths(target)
        self.quiet_after = QUIET_SECONDS
        self.reloads = 0  # how often the log started over
        self._last_arrival: float | None = None  # monotonic time of the last new step
        self._run: tuple[Config, int] | None = None
        self._in_flight = threading.BoundedSemaphore(IN_FLIGHT)

    def compose(self) -> ComposeResult:
        yield ModeBar("train")
        yield StatusBar("", id="train-status")
        with Horizontal(id="train-body"):
            yield TrainingPlots()
            yield TrainingXrayView(id="training-xray")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(SampleLog).note(f"watching {self.metrics_path} (read-only)")
        self.follow(self.folder, self.metrics_path)
        self.set_interval(1.0, self.update_status)
        self.update_status()

    # --- the reading thread -----------------------------------------------------------------
    @work(thread=True, exclusive=True, group="watch", name="metrics-follower")
    def follow(self, folder: Path, path: Path) -> None:
        worker = get_current_worker()
        cursor: MetricsCursor | None = None
        run = None
        while not worker.is_cancelled:
            steps, cursor, restarted = read_metrics(path, cursor)
            found = None
            if run is None or restarted:  # a resume may change the run's settings
                found = run = run_config(folder)
            if steps or restarted or found is not None:
                # in slices: the UI takes each between key presses, never a long log at once
                for start in range(0, max(1, len(steps)), FOLLOW_SLICE):
                    while not self._in_flight.acquire(timeout=POLL_SECONDS):
                        if worker.is_cancelled:
                            return
                    slice_ = tuple(steps[start : start + FOLLOW_SLICE])
                    self.post_message(self.Followed(slice_, restarted and not start, found))
                    found = None
            if not steps:  # caught up: wait for the writer (a cancel takes effect by then)
                time.sleep(POLL_SECONDS)

    @on(Followed)
    def show_followed(self, message: Followed) -> None:
        self._in_flight.release()
        if message.run is not None:
            self._run = message.run
            self.query_one(TrainingPlots).describe(*message.run)
        if message.restarted:
            self.reloads += 1
            self.reset_plots()
            self.query_one(SampleLog).note(
                "the log was rewritten (a resume trims it): reloaded", style="yellow"
            )
        if message.steps:
            self._last_arrival = time.monotonic()
            self.show_progress(self.Progress(message.steps))
        else:
            self.update_status()

    def reset_plots(self) -> None:
        config, vocab_size = self._run or (None, None)
        self.query_one(TrainingPlots).reset(config, vocab_size)
        self.last = self.last_val = None
        self.clock.reset()

    # --- keys -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in CONTROLS  # hidden from the key bar, and inert

    def action_start(self) -> None:
        self.notify("Watching a run: it is started, paused and stopped where it trains.")

    action_pause = action_stop = action_save = action_start

    def evaluated(self, metrics: StepMetrics) -> None:
        pass  # a watched run sends no snapshots: its tape would need the corpus and weights

    def action_use_weights(self) -> None:
        """Load the run's newest checkpoint into Generate, Chat and Model."""
        if not is_checkpoint(self.folder):
            self.notify(
                f"{self.folder} holds no checkpoint yet; the run saves one at each evaluation.",
                severity="warning",
            )
            return
        self.app.use_weights(
            WeightSource(f"watched run {self.folder.name}", checkpoint=str(self.folder))
        )

    # --- views ------------------------------------------------------------------------------
    def update_buttons(self) -> None:
        pass  # no form and no buttons

    def update_status(self) -> None:
        text = Text("◉ watching", style="bold cyan")
        optional: list[Text] = []  # where the line has room
        metrics = self.last
        if metrics is None:
            text.append("  waiting for the first step…", style="dim")
        else:
            text.append(f"  step {metrics.step}/{metrics.max_steps}", style="bold")
            text.append(f"  loss {metrics.loss:.3f}")
            if self.last_val is not None:
                text.append(f"  val {self.last_val:.3f}", style="rgb(255,170,0)")
            if metrics.step >= metrics.max_steps:
                text.append("  finished", style="bold green")
            optional.append(Text(f"  {format_count(self.clock.rate.value)} tok/s"))
            optional.append(Text(f"  elapsed {format_duration(metrics.elapsed)}"))
        quiet = self.quiet_seconds()
        if quiet is not None and quiet >= self.quiet_after:
            text.append(f"  no new step for {quiet:.0f} s", style="bold yellow")
        optional.append(Text(f"  {self.metrics_path}", style="dim"))
        self.query_one(StatusBar).show(text, tuple(optional))

    def quiet_seconds(self) -> float | None:
        """Seconds since the last new step arrived, once one has."""
        if self._last_arrival is None:
            return None
        return time.monotonic() - self._last_arrival
