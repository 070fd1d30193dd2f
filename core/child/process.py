"""Training in a child process: typed commands go in through one queue, plain events come out.

A front end starts a `TrainingProcess`, reads `poll()` from a thread of its own and sends
`pause`/`resume_training`/`stop`/`save`/`snapshot`. The child runs the one `TrainingSession` loop
at a lower priority, so the process that draws the screen keeps a core to itself.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from multiprocessing import resource_tracker
from pathlib import Path

from safetensors.torch import load as deserialize

from core.child.training_child import child_main
from core.config import Config, SamplingConfig
from core.events import Command, TrainingEvent, TrainingFinished, WeightSnapshot
from core.session import GenerationSession
from core.tokenizer import tokenizer_from_dict

NICE = 10


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


class TrainingProcess:
    """A `TrainingSession` in a spawned child process, driven through two queues.

    Args:
        text / text_path: the corpus itself, or a UTF-8 file the child reads.
        out_dir: checkpoint folder; the child's stdout and stderr go to out_dir/train.log.
        threads: torch threads in the child (default: every core).
        resume: a checkpoint folder to continue instead of starting from `config`.
    """

    def __init__(
        self,
        config: Config | None,
        out_dir: str | Path,
        text: str | None = None,
        text_path: str | Path | None = None,
        threads: int | None = None,
        device: str = "cpu",
        resume: str | Path | None = None,
        nice: int = NICE,
    ) -> None:
        if (text is None) == (text_path is None):
            raise ValueError("give the corpus as text or as text_path, not both or neither")
        if config is None and resume is None:
            raise ValueError("give a config to start from, or a checkpoint to resume")
        self.config = config
        self.out_dir = Path(out_dir)
        self.log_path = self.out_dir / "train.log"
        self.text = text
        self.text_path = str(text_path) if text_path is not None else None
        self.threads = threads or default_threads()
        self.device = device
        self.resume_from = str(resume) if resume is not None else None
        self.nice = nice
        prepare_multiprocessing()  # the queues' semaphores register with the tracker
        self._context = multiprocessing.get_context("spawn")
        self._events = self._context.Queue()
        self._commands = self._context.Queue()
        self._process: multiprocessing.process.BaseProcess | None = None
        self.finished: TrainingFinished | None = None

    def start(self) -> None:
        """Spawn the child; events start arriving after its imports (a few seconds)."""
        if self._process is not None:
            raise ValueError("this training process was already started")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._process = self._context.Process(
            target=child_main,
            args=(
                self.config,
                self.text,
                self.text_path,
                str(self.out_dir),
                str(self.log_path),
                self.threads,
                self.device,
                self.resume_from,
                self.nice,
                os.getpid(),
                self._events,
                self._commands,
            ),
            name="minigpt-training",
            daemon=False,
        )
        self._process.start()

    # --- commands -------------------------------------------------------------------------
    def pause(self) -> None:
        self._send(Command.PAUSE)

    def resume_training(self) -> None:
        self._send(Command.RESUME)

    def stop(self) -> None:
        """Ask the child to stop between steps and save; `TrainingFinished` follows."""
        self._send(Command.STOP)

    def save(self) -> None:
        """Save a checkpoint now (between steps, also while paused); `CheckpointSaved` follows."""
        self._send(Command.SAVE)

    def snapshot(self) -> None:
        """Ask for a copy of the current weights; a `WeightSnapshot` follows."""
        self._send(Command.SNAPSHOT)

    def _send(self, command: Command) -> None:
        if self.alive:
            self._commands.put(command)

    # --- events ---------------------------------------------------------------------------
    def poll(self, timeout: float = 0.1) -> list[TrainingEvent]:
        """Events that arrived, waiting up to `timeout` for the first; ends with
        `TrainingFinished` (synthesised if the child died without saying so)."""
        if self.finished is not None:
            return []
        events: list[TrainingEvent] = []
        try:
            events.append(self._events.get(timeout=timeout))
            while True:
                events.append(self._events.get_nowait())
        except queue.Empty:
            pass
        except (EOFError, OSError):
            pass
        for event in events:
            if isinstance(event, TrainingFinished):
                self.finished = event
        if not events and self._process is not None and not self._process.is_alive():
            # the child is gone and the queue is drained: it crashed or was killed
            code = self._process.exitcode
            self.finished = TrainingFinished(
                step=-1,
                checkpoint=None,
                stopped=True,
                error=f"the training process exited with code {code}; see {self.log_path}",
            )
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

    def terminate(self) -> None:
        """SIGTERM: the child still stops between steps and saves."""
        if self.alive:
            self._process.terminate()

    def kill(self) -> None:
        if self.alive:
            self._process.kill()


def session_from_snapshot(
    snapshot: WeightSnapshot, sampling: SamplingConfig | None = None, seed: int = 0
):
    """A `GenerationSession` over its own copy of a snapshot's weights."""
    tokenizer = tokenizer_from_dict(snapshot.tokenizer)
    state = deserialize(snapshot.weights)
    session = GenerationSession.from_state(
        snapshot.config, tokenizer, state, sampling, device="cpu", seed=seed
    )
    session.checkpoint_step = snapshot.step
    return session


def wait_for(process: TrainingProcess, timeout: float) -> list[TrainingEvent]:
    """Every event until the child finishes or `timeout` seconds pass (for scripts and tests)."""
    deadline = time.monotonic() + timeout
    seen: list[TrainingEvent] = []
    while process.finished is None and time.monotonic() < deadline:
        seen.extend(process.poll(0.1))
    return seen
