"""An experiment race in a child process, so the studio stays responsive while it runs."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import traceback
from dataclasses import dataclass
from pathlib import Path

from core.child.process import NICE, default_threads, prepare_multiprocessing
from core.child.training_child import redirect_output
from core.config import Config
from core.dataset import load_corpus
from core.device import set_threads
from core.experiments import RaceProgress, parse_variants, race, results_to_dict, save_race


@dataclass(frozen=True)
class RaceFinished:
    """The race ended (all steps, or stopped); `report` is its JSON form, saved at `path`."""

    report: dict | None
    path: str | None
    stopped: bool
    error: str | None = None


class RaceProcess:
    """`core.experiments.race` in a spawned child: `poll()` gives RaceProgress events, then
    one RaceFinished; `stop()` ends it between blocks, keeping what was measured."""

    def __init__(
        self,
        base: Config,
        variants: list[str],
        steps: int,
        out_dir: str | Path,
        text_path: str | Path,
        threads: int | None = None,
        preset_name: str | None = None,
    ) -> None:
        self.variants = parse_variants(variants)
        self.base, self.steps = base, steps
        self.out_dir = Path(out_dir)
        self.text_path = str(text_path)
        self.threads = threads or default_threads()
        prepare_multiprocessing()
        context = multiprocessing.get_context("spawn")
        self._events = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_race_main,
            args=(
                base,
                self.variants,
                steps,
                str(self.out_dir),
                self.text_path,
                self.threads,
                preset_name,
                os.getpid(),
                self._events,
                self._stop,
            ),
            name="minigpt-race",
        )
        self.finished: RaceFinished | None = None

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self, timeout: float = 0.1) -> list[RaceProgress | RaceFinished]:
        """Events that arrived, waiting up to `timeout` for the first."""
        if self.finished is not None:
            return []
        events: list = []
        try:
            events.append(self._events.get(timeout=timeout))
            while True:
                events.append(self._events.get_nowait())
        except (queue.Empty, EOFError, OSError):
            pass
        for event in events:
            if isinstance(event, RaceFinished):
                self.finished = event
        if not events and self._process.exitcode is not None and self.finished is None:
            log = self.out_dir / "race.log"
            self.finished = RaceFinished(
                None, None, True, f"the race exited with code {self._process.exitcode}; see {log}"
            )
            events.append(self.finished)
        return events

    def join(self, timeout: float | None = None) -> bool:
        self._process.join(timeout)
        return self._process.exitcode is not None


def _race_main(
    base: Config,
    variants: list[str],
    steps: int,
    out_dir: str,
    text_path: str,
    threads: int,
    preset_name: str | None,
    parent_pid: int,
    events: multiprocessing.Queue,
    stop: multiprocessing.synchronize.Event,
) -> None:
    redirect_output(str(Path(out_dir) / "race.log"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl+C belongs to the UI
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:
        set_threads(threads)
        text = load_corpus(text_path)

        def stopped() -> bool:
            return stop.is_set() or os.getppid() != parent_pid  # orphaned: the UI is gone

        results = ()
        for event in race(base, text, variants, steps, stop=stopped):
            if isinstance(event, RaceProgress):
                events.put(event)
            else:
                results = event
        report = results_to_dict(results, base, steps)
        report["stopped"] = stopped()
        report["preset"] = preset_name
        path = save_race(out_dir, report)
        events.put(RaceFinished(report, str(path), report["stopped"]))
    except Exception as error:  # the UI shows the message; the traceback goes to the log
        traceback.print_exc()
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        events.put(RaceFinished(None, None, True, message))
    finally:
        events.close()
        events.join_thread()
