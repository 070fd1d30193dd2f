"""What the Train screen's next start is: a new run in a new folder, or a stopped run resumed in
its own folder from its last checkpoint (after x, or chosen on the Runs screen); and the
`minigpt train` line that does the same, recorded in the run's command.txt once it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.screen import Screen

from core import (
    COMMAND_FILE,
    METRICS_FILE,
    Config,
    RunSummary,
    StepMetrics,
    TrainingFinished,
    TrainingProcess,
    UserError,
    append_line,
    new_run_folder,
    read_metrics,
)
from tui.studio.widgets.train.training_plots import TrainingPlots
from tui.train_command import resume_command, train_command

EXIT_WAIT_SECONDS = 5.0  # for the stopped run's child, which lets go of the folder as it exits


@dataclass(frozen=True)
class ResumePlan:
    """A stopped run to continue: its folder, its name and the step its checkpoint holds."""

    path: Path
    name: str
    step: int
    config: Config  # the checkpoint's; it fixes the planned steps


def logged_steps(directory: Path, last_step: int) -> list[StepMetrics]:
    """The steps of a run's metrics log up to `last_step` (the checkpoint a resume starts from)."""
    steps, cursor = [], None
    while True:
        chunk, cursor, restarted = read_metrics(directory / METRICS_FILE, cursor)
        if restarted:
            steps = []
        if not chunk and not restarted:
            return [metrics for metrics in steps if metrics.step <= last_step]
        steps += chunk


class RunResume:
    """Whether the Train screen's t resumes a stopped run or starts a new one (n always does)."""

    def __init__(self) -> None:
        self.plan: ResumePlan | None = None
        self._history: list[StepMetrics] = []  # the resumed run's logged steps, to replay
        self._command: tuple[Path, str] | None = None  # the launched run's folder and command

    def offer(self, event: TrainingFinished, config: Config | None) -> str:
        """A run ended: a stopped one is what t resumes now. Returns what t and n do."""
        self.plan = None
        stopped = event.stopped and event.error is None and event.checkpoint is not None
        if stopped and config is not None and event.step < config.max_steps:
            path = Path(event.checkpoint)
            self.plan = ResumePlan(path, path.name, event.step, config)
            return f"t resumes run {path.name} from step {event.step}; n starts a new run."
        return "t starts a new run in a new folder."

    def plan_run(self, summary: RunSummary) -> None:
        """The next start resumes this run (a stopped run of the Runs screen)."""
        self.plan = ResumePlan(summary.path, summary.name, summary.step, summary.config)

    def forget(self) -> None:
        """The next start is a new run."""
        self.plan = None

    def launch(
        self,
        screen: Screen,
        config: Config,
        preset: str,
        text: str | None,
        text_path: str | None,
    ) -> tuple[TrainingProcess, Config, str]:
        """The training process to start now, the config its plots follow, and its note."""
        plan, self.plan = self.plan, None
        self._history = []
        if plan is None:
            out_dir = new_run_folder(screen.checkpoints_dir, f"studio-{preset}")
            process = TrainingProcess(
                config,
                out_dir,
                text=text,
                text_path=text_path,
                threads=screen.threads,
                device=screen.device,
                log_to=screen.log_to,
            )
            machine = {"device": screen.device, "threads": screen.threads, "log_to": screen.log_to}
            line = train_command(config, preset, text_path, str(out_dir), **machine)
            self._command = (out_dir, line)
            return process, config, f"starting a {preset} run in a child process → {out_dir}"
        if screen.process is not None:
            screen.process.join(EXIT_WAIT_SECONDS)
        self._history = logged_steps(plan.path, plan.step)
        process = TrainingProcess(
            None,
            plan.path,
            text=text,
            text_path=text_path,
            threads=screen.threads,
            device=screen.device,
            resume=plan.path,
            log_to=screen.log_to,
        )
        machine = (screen.device, screen.threads, screen.log_to)
        line = resume_command(str(plan.path), text_path, *machine)
        self._command = (plan.path, line)
        note = (
            f"resuming {plan.name} from step {plan.step} (of {plan.config.max_steps}) in its "
            f"folder {plan.path}"
        )
        return process, plan.config, note

    def started(self, screen: Screen) -> None:
        """The launched run started (its child holds the folder's lock): record its command,
        and draw the steps a resumed run had logged."""
        self.record(screen)
        self.replay(screen)

    def record(self, screen: Screen) -> None:
        """Append the launched run's `minigpt train` line to its command.txt, as the CLI does:
        the run can be reproduced without the studio."""
        if self._command is None:
            return
        (folder, line), self._command = self._command, None
        try:
            append_line(folder / COMMAND_FILE, line)
        except (OSError, UserError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            screen.notify(
                f"the run trains, but its command was not recorded: {reason}", severity="warning"
            )

    def replay(self, screen: Screen) -> None:
        """The resumed run started (its plots were just reset): draw the steps it had logged."""
        history, self._history = self._history, []
        plots = screen.query_one(TrainingPlots)
        for metrics in history:
            plots.add(metrics)
        if history:
            screen.last = history[-1]
            vals = [metrics.val_loss for metrics in history if metrics.val_loss is not None]
            screen.last_val = vals[-1] if vals else None
