"""The training child's side: its session, its events, and its command thread."""

from __future__ import annotations

import os
import queue
import signal
import threading
import traceback
from pathlib import Path

from safetensors.torch import save as serialize

from core.child.base import ChildEnd, first_line
from core.config import Config
from core.dataset import load_corpus
from core.device import set_threads
from core.events import (
    CheckpointSaved,
    Command,
    CommandFailed,
    RunState,
    TrainingFinished,
    TrainingStarted,
    TrainingState,
    WeightSnapshot,
)
from core.tracking import open_trackers
from core.trainer import TrainingSession

PARENT_CHECK_SECONDS = 0.5


def child_main(
    config: Config | None,
    text: str | None,
    text_path: str | None,
    device: str,
    resume: str | None,
    log_to: tuple[str, ...],
    child: ChildEnd,
) -> None:
    child.enter()
    events = child.events
    session = None
    try:
        set_threads(child.threads)
        if text is None:
            text = load_corpus(text_path)
        if resume is not None:
            session = TrainingSession.from_checkpoint(
                resume, text, device, max_steps=config.max_steps if config else None
            )
        else:
            session = TrainingSession(config, text, device, child.out_dir)
        if text_path is not None:
            session.corpus_name = Path(text_path).name
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
                log_path=child.log_path,
                pid=os.getpid(),
                corpus_sha256=session.corpus["sha256"],
            )
        )
        control = CommandThread(session, events, child.commands, child.parent_pid)
        control.start()
        with open_trackers(log_to, session.out_dir, session.config, session.step) as trackers:
            for metrics in session.steps():
                trackers.log(metrics)
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
        events.put(TrainingFinished(step, checkpoint, True, error=first_line(error)))
    finally:
        child.close()


class CommandThread(threading.Thread):
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
                self.events.put(CommandFailed(command, first_line(error)))

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
