"""Pause, resume, stop and save requests from other threads, which a training loop takes up
between two steps (and, in a distributed run, every rank at the same step)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from core.child.distributed import StepAgreement

T = TypeVar("T")


class LoopControl:
    """Requests any thread may make of a training loop; each takes effect between steps.

    In a distributed run a request reaches every rank through `agreement` at the next logged
    step: the loop reads `stopped` and `save_asked()`, never one rank's own flags, so that all
    ranks stop or save at the same step whichever rank was asked.
    """

    def __init__(self, agreement: StepAgreement | None = None) -> None:
        self.agreement = agreement
        self._lock = threading.Lock()  # held for a whole step: between steps is consistent
        self._save_lock = threading.Lock()  # one save at a time (the loop's, or a requested one)
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._save_requested = threading.Event()
        self._attention = threading.Event()  # set on resume and on every task handed in
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._loop_thread: int | None = None  # the thread running the loop, while it runs
        self._loop_guard = threading.Lock()  # tasks handed in vs the loop's start and end

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._attention.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._attention.set()

    def request_save(self) -> None:
        self._save_requested.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        """stop() was called; in a distributed run, on any rank (seen at a logged step)."""
        return self._stop.is_set() if self.agreement is None else self.agreement.stop

    @property
    def stop_asked(self) -> bool:
        """stop() was called on this rank: long work inside a step (an evaluation, its sample)
        may end early, whatever the other ranks know yet."""
        return self._stop.is_set()

    def wait_while_paused(self) -> float:
        """Between steps: run the tasks handed in, and while paused wait, running any more.
        Returns the seconds spent paused, which are not training time."""
        self.run_tasks()
        if self._running.is_set():
            return 0.0
        paused = time.perf_counter()
        while not self._running.is_set():
            self._attention.wait()
            self._attention.clear()
            self.run_tasks()
        return time.perf_counter() - paused

    # --- work on the loop's thread -----------------------------------------------------------
    def call_between_steps(self, task: Callable[[], T]) -> T:
        """Run `task` on the training loop's own thread between two steps (also while paused)
        and return its result; with no loop running, run it here under the step lock.

        Tensor work belongs on the loop's thread: each other thread that runs a parallel op
        gets an OpenMP team of its own, and once a process has more OpenMP threads than cores
        every team stops spinning at its barriers, which halved a small model's step on 2
        cores for the rest of the run after one weight snapshot taken from another thread.
        """
        with self._loop_guard:
            looping = self._loop_thread is not None
            if looping and self._loop_thread == threading.get_ident():
                return task()
            if looping:
                done = threading.Event()
                result: list = []
                failure: list[BaseException] = []

                def run() -> None:
                    try:
                        result.append(task())
                    except BaseException as error:  # raised again in the caller's thread
                        failure.append(error)
                    finally:
                        done.set()

                self._tasks.put(run)
                self._attention.set()
        if not looping:
            with self._lock:
                return task()
        done.wait()
        if failure:
            raise failure[0]
        return result[0]

    def run_tasks(self) -> None:
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                return
            task()

    def loop_started(self) -> None:
        with self._loop_guard:
            self._loop_thread = threading.get_ident()

    def loop_ended(self) -> None:
        """No more steps: tasks handed in from now on run in their caller's thread."""
        with self._loop_guard:
            self._loop_thread = None
        self.run_tasks()  # any handed in before the guard was taken

    @property
    def saving(self) -> bool:
        """A checkpoint is being written now."""
        return self._save_lock.locked()

    def save_asked(self) -> bool:
        """request_save() was called (on any rank) since the last save it asked for."""
        return self._save_requested.is_set() if self.agreement is None else self.agreement.save

    def save_taken(self) -> None:
        """The save asked for is under way."""
        self._save_requested.clear()
        if self.agreement is not None:
            self.agreement.save = False

    def requests(self) -> tuple[bool, bool]:
        """This rank's own (stop, save) requests, for the agreement of all ranks."""
        return self._stop.is_set(), self._save_requested.is_set()
