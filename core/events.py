"""The plain-value events and commands that cross between a training child and a front end."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import Enum

from core.config import Config


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_VALID = {
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": _number,
    "bool": lambda value: isinstance(value, bool),
    "float | None": lambda value: value is None or _number(value),
    "str | None": lambda value: value is None or isinstance(value, str),
    "TrainingXray | None": lambda value: value is None,  # never logged: the studio's view only
}


@dataclass(frozen=True)
class TrainingXray:
    """One evaluation step's look inside the model; every tuple has one entry per layer."""

    grad_norms: tuple[float, ...]  # pre-clip L2 norm of each block's gradients
    update_ratios: tuple[float, ...]  # |Δw| / |w| of this step's optimizer update, per block
    residual_norms: tuple[float, ...]  # RMS of each block's output on the probe text
    probe_tokens: tuple[str, ...]  # the probe text, one string per token
    attention: tuple  # attention[i][head][query][key], floats; rows sum to 1
    attention_layers: tuple[int, ...] = ()  # the layer of each attention[i]; () = every layer

    def attention_layer(self, index: int) -> int:
        """The model layer whose map is attention[index]."""
        return self.attention_layers[index] if self.attention_layers else index


@dataclass(frozen=True)
class StepMetrics:
    """One training step's measurements, as plain values."""

    step: int
    max_steps: int
    loss: float
    grad_norm: float  # pre-clip global norm, as clip_grad_norm_ returns it
    lr: float
    tokens_per_second: float  # of every rank together
    elapsed: float  # seconds of training so far, resumed runs included
    clipped: bool = False  # the update was scaled down to grad_clip
    val_loss: float | None = None  # set on eval steps only
    sample: str | None = None  # text from SAMPLE_PROMPT, on eval steps only
    checkpoint: str | None = None  # folder written at this step, if any
    xray: TrainingXray | None = None  # per-layer look inside, on eval steps of a studio run

    @classmethod
    def from_dict(cls, values: object) -> StepMetrics | None:
        """A metrics.jsonl line's values, or None for a line of another shape (keys this
        version does not know are ignored)."""
        if not isinstance(values, dict):
            return None
        settings = {}
        for item in fields(cls):
            if item.name not in values:
                if item.default is MISSING:
                    return None
                continue
            value = values[item.name]
            if not _VALID[item.type](value):
                return None
            settings[item.name] = float(value) if item.type == "float" else value
        return cls(**settings)


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
    corpus_sha256: str | None = None  # the text it trains on: runs on other text don't compare


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
