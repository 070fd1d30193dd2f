"""Training in a child process: typed commands go in through one queue, plain events come out.

A front end starts a `TrainingProcess`, reads `poll()` from a thread of its own and sends
`pause`/`resume_training`/`stop`/`save`/`snapshot`. The child runs the one `TrainingSession` loop
at a lower priority, so the process that draws the screen keeps a core to itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safetensors.torch import load as deserialize

from core.child.base import NICE, ChildProcess
from core.child.training_child import child_main
from core.config import Config, SamplingConfig
from core.events import Command, TrainingEvent, TrainingFinished, WeightSnapshot
from core.session import GenerationSession
from core.tokenizer import tokenizer_from_dict


class TrainingProcess(ChildProcess[TrainingEvent, TrainingFinished]):
    """A `TrainingSession` in a spawned child process, driven through two queues.

    Args:
        text / text_path: the corpus itself, or a UTF-8 file the child reads.
        out_dir: checkpoint folder; the child's stdout and stderr go to out_dir/train.log.
        threads: torch threads in the child (default: every core).
        resume: a checkpoint folder to continue instead of starting from `config`.
        log_to: trackers the child also sends each step to (core.tracking).
    """

    FINISHED = TrainingFinished
    NAME = "minigpt-training"

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
        log_to: tuple[str, ...] = (),
    ) -> None:
        if (text is None) == (text_path is None):
            raise ValueError("give the corpus as text or as text_path, not both or neither")
        if config is None and resume is None:
            raise ValueError("give a config to start from, or a checkpoint to resume")
        super().__init__(out_dir, "train.log", threads, nice)
        self.config = config
        self.text = text
        self.text_path = str(text_path) if text_path is not None else None
        self.device = device
        self.resume_from = str(resume) if resume is not None else None
        self.log_to = tuple(log_to)

    def _child(self) -> tuple[Callable[..., None], tuple]:
        settings = (self.config, self.text, self.text_path, self.device, self.resume_from)
        return child_main, (*settings, self.log_to)

    def _died(self, exitcode: int | None) -> TrainingFinished:
        return TrainingFinished(
            step=-1,
            checkpoint=None,
            stopped=True,
            error=f"the training process exited with code {exitcode}; see {self.log_path}",
        )

    # --- commands (`stop` is every child's) -------------------------------------------------
    def pause(self) -> None:
        self._send(Command.PAUSE)

    def resume_training(self) -> None:
        self._send(Command.RESUME)

    def save(self) -> None:
        """Save a checkpoint now (between steps, also while paused); `CheckpointSaved` follows."""
        self._send(Command.SAVE)

    def snapshot(self) -> None:
        """Ask for a copy of the current weights; a `WeightSnapshot` follows."""
        self._send(Command.SNAPSHOT)


def session_from_snapshot(
    snapshot: WeightSnapshot,
    sampling: SamplingConfig | None = None,
    seed: int = 0,
    weights: str = "fp32",
) -> GenerationSession:
    """A `GenerationSession` over its own copy of a snapshot's weights."""
    tokenizer = tokenizer_from_dict(snapshot.tokenizer)
    state = deserialize(snapshot.weights)
    session = GenerationSession.from_state(
        snapshot.config, tokenizer, state, sampling, device="cpu", seed=seed, weights=weights
    )
    session.checkpoint_step = snapshot.step
    return session
