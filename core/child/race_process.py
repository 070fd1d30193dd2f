"""An experiment race in a child process, so the studio stays responsive while it runs."""

from __future__ import annotations

import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.child.base import ChildEnd, ChildProcess, first_line
from core.dataset import load_corpus
from core.device import set_threads
from core.events import Command
from core.experiments import RaceProgress, save_race
from core.race_plan import RacePlan, run_plan


@dataclass(frozen=True)
class RaceFinished:
    """The race ended (all steps, or stopped); `report` is its JSON form, saved at `path`."""

    report: dict | None
    path: str | None
    stopped: bool
    error: str | None = None


class RaceProcess(ChildProcess[RaceProgress | RaceFinished, RaceFinished]):
    """A race plan (a scenario, or free-form variants) in a spawned child: `poll()` gives
    RaceProgress events, then one RaceFinished; `stop()` ends it between blocks, keeping what
    was measured."""

    FINISHED = RaceFinished
    NAME = "minigpt-race"

    def __init__(
        self,
        plan: RacePlan,
        out_dir: str | Path,
        text_path: str | Path,
        threads: int | None = None,
        preset_name: str | None = None,
    ) -> None:
        super().__init__(out_dir, "race.log", threads)
        self.plan = plan
        self.variants = plan.names
        self.text_path = str(text_path)
        self.preset_name = preset_name

    def _child(self) -> tuple[Callable[..., None], tuple]:
        return _race_main, (self.plan, self.text_path, self.preset_name)

    def _died(self, exitcode: int | None) -> RaceFinished:
        return RaceFinished(
            None, None, True, f"the race exited with code {exitcode}; see {self.log_path}"
        )


class _StopAsked:
    """The race's `stop`: true once the parent sent `Command.STOP`, or once it is gone."""

    def __init__(self, child: ChildEnd) -> None:
        self.child = child
        self.asked = False

    def __call__(self) -> bool:
        while not self.asked:
            try:
                self.asked = self.child.commands.get_nowait() is Command.STOP
            except (queue.Empty, EOFError, OSError):
                break
        return self.asked or self.child.orphaned()


def _race_main(
    plan: RacePlan,
    text_path: str,
    preset_name: str | None,
    child: ChildEnd,
) -> None:
    child.enter()
    events = child.events
    try:
        set_threads(child.threads)
        text = load_corpus(text_path)
        stopped = _StopAsked(child)
        report: dict = {}
        for event in run_plan(plan, text, stop=stopped):
            if isinstance(event, RaceProgress):
                events.put(event)
            else:
                report = event
        report["stopped"] = stopped()
        report["preset"] = preset_name
        path = save_race(child.out_dir, report)
        events.put(RaceFinished(report, str(path), report["stopped"]))
    except Exception as error:  # the UI shows the message; the traceback goes to the log
        traceback.print_exc()
        events.put(RaceFinished(None, None, True, first_line(error)))
    finally:
        child.close()
