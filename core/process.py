"""Training in a child process: typed commands go in through one queue, plain events come out.

A front end starts a `TrainingProcess`, reads `poll()` from a thread of its own and sends
`pause`/`resume_training`/`stop`/`save`/`snapshot`. The child runs the one `TrainingSession` loop
at a lower priority, so the process that draws the screen keeps a core to itself.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from multiprocessing import resource_tracker
from pathlib import Path

from safetensors.torch import load as deserialize
from safetensors.torch import save as serialize

from core.config import Config, SamplingConfig
from core.dataset import load_corpus
from core.device import set_threads
from core.session import GenerationSession
from core.tokenizer import tokenizer_from_dict
from core.trainer import StepMetrics, TrainingSession

PARENT_CHECK_SECONDS = 0.5
NICE = 10


@dataclass(frozen=True)
class TrainingStarted:
    """The child built its session and is about to take the first step."""

    config: Config
    vocab_size: int
    num_parameters: int
    device: str
    threads: int
    step: int  # first step to run (non-zero when resuming)
    out_dir: str
    log_path: str
    pid: int


class Command(Enum):
    """What a front end can ask of a training child."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    SAVE = "save"
    SNAPSHOT = "snapshot"


class RunState(Enum):
    """Where a training child stands after a command."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


@dataclass(frozen=True)
class TrainingState:
    """The child took a command and is now in `state`."""

    state: RunState
    step: int


@dataclass(frozen=True)
class CommandFailed:
    """A command failed in the child (a save onto a full disk, say); training goes on."""

    command: Command
    message: str  # one line, for the user


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str


@dataclass(frozen=True)
class WeightSnapshot:
    """A copy of the weights between two steps, as safetensors bytes (never pickled tensors)."""

    step: int
    config: Config
    tokenizer: dict  # Tokenizer.to_dict()
    weights: bytes = field(repr=False)


@dataclass(frozen=True)
class TrainingFinished:
    """The child is done: it reached max_steps, was stopped, or failed (error set)."""

    step: int
    checkpoint: str | None
    stopped: bool
    error: str | None = None


TrainingEvent = (
    StepMetrics
    | TrainingStarted
    | TrainingState
    | CommandFailed
    | CheckpointSaved
    | WeightSnapshot
    | TrainingFinished
)


def default_threads() -> int:
    """Torch threads for a trainer beside a UI: every core, as the CLI uses.

    The child runs at low priority, so the UI takes a core whenever it needs one; the UI's
    own work is kept small (plots a few times a second) because each time it does, the
    trainer's other thread waits at its next synchronisation. Measured on 2 cores: two
    threads keep 0.93-0.98x of the CLI's speed, one thread 0.57x.
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
            target=_child_main,
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


# --- the child ------------------------------------------------------------------------------


def _redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 at the log, so nothing the child prints paints over the screen."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _child_main(
    config: Config | None,
    text: str | None,
    text_path: str | None,
    out_dir: str,
    log_path: str,
    threads: int,
    device: str,
    resume: str | None,
    nice: int,
    parent_pid: int,
    events: multiprocessing.Queue,
    commands: multiprocessing.Queue,
) -> None:
    _redirect_output(log_path)
    # the terminal's Ctrl+C belongs to the UI, which asks for a clean stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    session = None
    try:
        set_threads(threads)
        if text is None:
            text = load_corpus(text_path)
        if resume is not None:
            session = TrainingSession.from_checkpoint(
                resume, text, device, max_steps=config.max_steps if config else None
            )
        else:
            session = TrainingSession(config, text, device, out_dir)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: session.stop())
        events.put(
            TrainingStarted(
                config=session.config,
                vocab_size=session.tokenizer.vocab_size,
                num_parameters=session.model.num_parameters(),
                device=str(session.device),
                threads=set_threads(None),
                step=session.step,
                out_dir=str(session.out_dir),
                log_path=log_path,
                pid=os.getpid(),
            )
        )
        control = _Control(session, events, commands, parent_pid)
        control.start()
        for metrics in session.steps():
            control.last_elapsed = metrics.elapsed
            events.put(metrics)
            if metrics.checkpoint is not None:
                events.put(CheckpointSaved(metrics.step, metrics.checkpoint))
        control.done.set()
        control.join(timeout=5)
        checkpoint = str(session.last_checkpoint) if session.last_checkpoint else None
        events.put(TrainingFinished(session.step, checkpoint, session.stopped))
    except Exception as error:  # the UI shows the message; the traceback goes to the log
        traceback.print_exc()
        step = session.step if session is not None else 0
        checkpoint = (
            str(session.last_checkpoint)
            if session is not None and session.last_checkpoint
            else None
        )
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        events.put(TrainingFinished(step, checkpoint, True, error=message))
    finally:
        if os.getppid() != parent_pid:
            events.cancel_join_thread()  # nobody will read: do not block exit on a full pipe
        events.close()
        events.join_thread()


class _Control(threading.Thread):
    """The child's command thread: applies commands between steps, watches the parent."""

    def __init__(self, session, events, commands, parent_pid: int) -> None:
        super().__init__(name="training-control", daemon=True)
        self.session = session
        self.events = events
        self.commands = commands
        self.parent_pid = parent_pid
        self.done = threading.Event()
        self.last_elapsed: float | None = None

    def run(self) -> None:
        while not self.done.is_set():
            if os.getppid() != self.parent_pid:
                self.session.stop()  # orphaned: the UI died; the loop saves on its way out
                return
            try:
                command = self.commands.get(timeout=PARENT_CHECK_SECONDS)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                self.session.stop()
                return
            try:
                self._apply(command)
            except Exception as error:  # a failed command must not kill training
                traceback.print_exc()
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                self.events.put(CommandFailed(command, message))

    def _apply(self, command: Command) -> None:
        session = self.session
        if command is Command.PAUSE:
            session.pause()
            self.events.put(TrainingState(RunState.PAUSED, session.step))
        elif command is Command.RESUME:
            session.resume()
            self.events.put(TrainingState(RunState.RUNNING, session.step))
        elif command is Command.STOP:
            session.stop()
            self.events.put(TrainingState(RunState.STOPPING, session.step))
        elif command is Command.SAVE:
            if session.out_dir is None:
                return
            path, step = session.save_between_steps(self.last_elapsed)
            self.events.put(CheckpointSaved(step, str(path)))
        elif command is Command.SNAPSHOT:
            step, state = session.snapshot_with_step()
            self.events.put(
                WeightSnapshot(
                    step=step,
                    config=session.config,
                    tokenizer=session.tokenizer.to_dict(),
                    weights=serialize(state),
                )
            )


def wait_for(process: TrainingProcess, timeout: float) -> list[TrainingEvent]:
    """Every event until the child finishes or `timeout` seconds pass (for scripts and tests)."""
    deadline = time.monotonic() + timeout
    seen: list[TrainingEvent] = []
    while process.finished is None and time.monotonic() < deadline:
        seen.extend(process.poll(0.1))
    return seen
