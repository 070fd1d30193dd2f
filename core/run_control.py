"""Pause, resume, stop and save requests from other threads, which a training loop takes up
between two steps (and, in a distributed run, every rank at the same step)."""

from __future__ import annotations

import threading

from core.distributed import StepAgreement


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

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def request_save(self) -> None:
        self._save_requested.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        """stop() was called; in a distributed run, on any rank (seen at a logged step)."""
        return self._stop.is_set() if self.agreement is None else self.agreement.stop

    def wait_while_paused(self) -> None:
        if not self._running.is_set():
            self._running.wait()

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
