"""The plain-value events and commands that cross between a training child and a front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from core.config import Config
from core.trainer import StepMetrics


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
