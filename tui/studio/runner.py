"""One thread that owns a generation session and runs the UI's commands against it in order."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from core import GenerationSession, SamplingConfig, session_from_snapshot
from tui.studio.messages import ModelInfo, WeightSource

Command = Callable[[], None]


class GenerationRunner:
    """Commands run one at a time on a thread worker of `owner`, so the session never sees two.

    `submit` queues a command; `submit_urgent` commands also run between the steps of a stream
    (settings that must apply at once); `stop_stream` asks a running stream to end.
    """

    @dataclass
    class Failed(Message):
        message: str

    def __init__(self, owner: Widget, name: str) -> None:
        self.owner = owner
        self.name = name
        self.session: GenerationSession | None = None
        self.info: ModelInfo | None = None
        self._commands: queue.SimpleQueue[tuple[int, Command]] = queue.SimpleQueue()
        self._urgent: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._pending = 0  # commands queued or running
        self._submitted = 0  # sequence number of the last command submitted
        self._cancelled_up_to = 0  # streams of commands up to this number stop
        self._running = 0  # sequence number of the command running now
        self._lock = threading.Lock()
        self._worker = None

    def start(self) -> None:
        self._worker = self.owner.run_worker(
            self._serve, name=self.name, group=self.name, thread=True, exclusive=True
        )

    def submit(self, command: Command) -> None:
        with self._lock:
            self._pending += 1
            self._submitted += 1
            self._commands.put((self._submitted, command))

    def submit_urgent(self, command: Command) -> None:
        with self._lock:
            self._pending += 1
        self._urgent.put(command)

    def stop_stream(self) -> None:
        """Stop the running stream and any queued one; later commands are not affected."""
        with self._lock:
            self._cancelled_up_to = self._submitted

    @property
    def idle(self) -> bool:
        """No command queued or running (for tests and status lines)."""
        return self._pending == 0

    # --- on the runner's thread -------------------------------------------------------------
    def _serve(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            self.drain_urgent()
            try:
                self._running, command = self._commands.get(timeout=0.05)
            except queue.Empty:
                continue
            self._run(command)

    def _run(self, command: Command) -> None:
        try:
            command()
        except Exception as error:  # shown on screen; the session stays usable
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.owner.post_message(self.Failed(text))
        finally:
            with self._lock:
                self._pending -= 1

    def drain_urgent(self) -> None:
        while True:
            try:
                command = self._urgent.get_nowait()
            except queue.Empty:
                return
            self._run(command)

    def should_stop(self) -> bool:
        """For streams: the user asked to stop or the screen is going away."""
        worker = get_current_worker()
        return self._running <= self._cancelled_up_to or worker.is_cancelled

    def load(
        self, source: WeightSource, sampling: SamplingConfig, weights: str = "fp32"
    ) -> ModelInfo:
        """Build a session over its own copy of the source's weights, decoding with `weights`
        (a format, or "auto")."""
        if source.snapshot is not None:
            session = session_from_snapshot(source.snapshot, sampling, weights=weights)
        else:
            session = GenerationSession.from_checkpoint(
                source.checkpoint, sampling, device="cpu", weights=weights
            )
        config = session.model.config
        self.session = session
        self.info = ModelInfo(
            label=source.label,
            step=session.checkpoint_step,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            head_dim=config.head_dim,
            embedding_dim=config.embedding_dim,
            hidden_dim=config.hidden_dim,
            block_size=config.block_size,
            vocab_size=session.tokenizer.vocab_size,
            tokenizer=session.tokenizer.kind,
            num_parameters=session.model.num_parameters(),
        )
        return self.info
