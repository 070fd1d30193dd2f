"""What the studio's app, screens and widgets hand each other: plain values and messages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from textual.message import Message

from core import WeightSnapshot

NO_WEIGHTS = (
    "No checkpoint yet. Train one on the Train screen (press 1, then t; press w to copy its "
    "weights here), or run:  minigpt train --preset tiny --steps 300 --out checkpoints/dev-tiny"
)


@dataclass(frozen=True)
class WeightSource:
    """Where Generate and Chat get their own copy of the weights."""

    label: str
    checkpoint: str | None = None
    snapshot: WeightSnapshot | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What a screen shows about the weights it samples from (plain values)."""

    label: str
    step: int | None
    num_layers: int
    num_heads: int
    head_dim: int
    embedding_dim: int
    hidden_dim: int  # the FeedForward's inner width
    block_size: int
    vocab_size: int
    tokenizer: str  # "char" or "bpe"
    num_parameters: int

    @property
    def source(self) -> str:
        """Which weights, in a few words: the checkpoint or run, and its step."""
        if self.step is None or f"step {self.step}" in self.label:
            return self.label
        return f"{self.label}, step {self.step}"


@dataclass
class ModelLoaded(Message):
    """A screen has read its copy of the weights; the app's help follows them too."""

    info: ModelInfo


class TrainState(Enum):
    """Where the Train screen's run stands."""

    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """A run is under way: started and not yet finished or failed."""
        return self in (
            TrainState.STARTING,
            TrainState.RUNNING,
            TrainState.PAUSED,
            TrainState.STOPPING,
        )

    @property
    def steppable(self) -> bool:
        """The child takes pause, save and snapshot commands between two steps."""
        return self in (TrainState.RUNNING, TrainState.PAUSED)
