"""What every child process shares: the spawn, a command queue in and an event queue out that
ends with one finish event, and a shutdown that reads the child's last events.

The parent holds a `ChildProcess`; the child's entry function gets a `ChildEnd`, opens with its
`enter()` and closes with its `close()`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Generic, TypeVar

from core.checkpoint.run_folder import open_run_file
from core.events import Command

NICE = 10

E = TypeVar("E")  # any event the child sends
F = TypeVar("F")  # the one that ends its stream


def default_threads() -> int:
    """Torch threads for a trainer beside a UI: every core, as the CLI uses.

    The child runs at low priority, so the UI takes a core whenever it needs one; the UI's
    own work is kept small (plots a few times a second) because each time it does, the
    trainer's other thread waits at its next synchronisation. Measured on 2 cores (`minigpt
    bench studio --preset small`): on an Intel Xeon two threads kept 0.93-0.98x of the CLI's
    speed and one thread 0.57x; on an AMD EPYC two threads kept 0.92-1.14x.
    """
    return max(1, os.cpu_count() or 1)


def prepare_multiprocessing() -> None:
    """Start multiprocessing's resource tracker while stderr is still a real file.

    Textual replaces sys.stderr with an object whose fileno() is -1, and a tracker started from
    inside a running app fails with "bad value(s) in fds_to_keep".
    """
    saved = sys.stderr
    if sys.__stderr__ is not None:
        sys.stderr = sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


class ChildProcess(Generic[E, F]):
    """A spawned child driven through two queues: `Command`s in, events `E` out, the last
    of them a `FINISHED`, made up here if the child dies without sending one.

    A subclass names the child's entry function and its own arguments (`_child`), and the finish
    that stands for a child that died (`_died`); after its own arguments the entry function takes
    a `ChildEnd`.
    """

    FINISHED: type[F]
    NAME = "minigpt-child"  # the process's name, as `ps` shows it

    def __init__(
        self, out_dir: str | Path, log_name: str, threads: int | None, nice: int = NICE
    ) -> None:
        self.out_dir = Path(out_dir)
        self.log_path = self.out_dir / log_name  # the child's stdout and stderr
        self.threads = threads or default_threads()
        self.nice = nice
        prepare_multiprocessing()  # the queues' semaphores register with the tracker
        self._context = multiprocessing.get_context("spawn")
        self._events = self._context.Queue()
        self._commands = self._context.Queue()
        self._process: multiprocessing.process.BaseProcess | None = None
        self.finished: F | None = None

    def _child(self) -> tuple[Callable[..., None], tuple]:
        """The child's entry function and its own arguments."""
        raise NotImplementedError

    def _died(self, exitcode: int | None) -> F:
        """The finish event for a child that exited without sending one."""
        raise NotImplementedError

    def start(self) -> None:
        """Spawn the child; events start arriving after its imports (a few seconds)."""
        if self._process is not None:
            raise ValueError(f"this {type(self).__name__} was already started; make a new one")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target, args = self._child()
        end = ChildEnd(
            str(self.out_dir),
            str(self.log_path),
            self.threads,
            self.nice,
            os.getpid(),
            self._events,
            self._commands,
        )
        self._process = self._context.Process(
            target=target, args=(*args, end), name=self.NAME, daemon=False
        )
        self._process.start()

    def stop(self) -> None:
        """Ask the child to stop at its next chance and save; its finish event follows."""
        self._send(Command.STOP)

    def _send(self, command: Command) -> None:
        if self.alive:
            self._commands.put(command)

    def poll(self, timeout: float = 0.1) -> list[E]:
        """Events that arrived, waiting up to `timeout` for the first; ends with the finish
        event (synthesised if the child died without saying so)."""
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
            if isinstance(event, self.FINISHED):
                self.finished = event
        if not events and self._process is not None and not self._process.is_alive():
            # the child is gone and the queue is drained: it crashed or was killed
            self.finished = self._died(self._process.exitcode)
            events.append(self.finished)
        return events

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child to exit; True if it has."""
        if self._process is None:
            return True
        self._process.join(timeout)
        return not self._process.is_alive()

    def drain_until_exit(self, timeout: float) -> bool:
        """Wait for the child to exit, reading its events meanwhile (a child whose events nobody
        reads blocks on the full pipe at exit); True once it has exited."""
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            if self.finished is None:
                self.poll(timeout=0.1)
            else:
                self.join(0.1)
        return self.join(0)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the child and wait for its final save; past `timeout`, terminate it, then kill."""
        if self.alive:
            self.stop()
            if not self.drain_until_exit(timeout):
                self.terminate()
                if not self.drain_until_exit(5):
                    self.kill()
                    self.join(5)
        if not self.alive:
            # commands the child never read must not hold this process at its exit
            self._commands.cancel_join_thread()

    def terminate(self) -> None:
        """SIGTERM: a child that handles it still stops at its next chance and saves."""
        if self.alive:
            self._process.terminate()

    def kill(self) -> None:
        if self.alive:
            self._process.kill()


# --- in the child ---------------------------------------------------------------------------
def redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 at the log, so nothing the child prints paints over the screen."""
    fd = open_run_file(Path(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


@dataclass(frozen=True)
class ChildEnd:
    """The child's end of the link: what every child gets from the parent that spawned it."""

    out_dir: str
    log_path: str  # the child's stdout and stderr
    threads: int  # torch threads
    nice: int
    parent_pid: int
    events: multiprocessing.Queue  # out, ending with one finish event
    commands: multiprocessing.Queue  # in: `Command`s

    def enter(self) -> None:
        """The child's first step: its output to the log, Ctrl+C left to the UI, a lower
        priority."""
        redirect_output(self.log_path)
        # the terminal's Ctrl+C belongs to the UI, which asks for a clean stop
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.nice:
            try:
                os.nice(self.nice)
            except OSError:
                pass

    def orphaned(self) -> bool:
        """The parent is gone (the UI died): nobody reads the events or sends commands."""
        return os.getppid() != self.parent_pid

    def close(self) -> None:
        """The child's last step: flush its events to the parent, unless no parent is left."""
        if self.orphaned():
            self.events.cancel_join_thread()  # nobody will read: do not block exit on a full pipe
        self.events.close()
        self.events.join_thread()


def first_line(error: BaseException) -> str:
    """An error as the UI shows it: its first line, or its type when it has no message."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__
