"""Hyper-parameters: one frozen `Config` for model and training, `SamplingConfig` for generation."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from core.errors import UserError

# the formats a decode step may read its weight matrices in (core/fast/weight_formats.py)
WEIGHT_FORMATS = ("fp32", "bf16", "int8")

# The one set of bounds of every number in a Config: the CLI's flags, the studio's form and a
# checkpoint's manifest all build a Config, so a value one of them accepts the others accept,
# and whatever is trained can be saved and loaded back. Upper bounds are far past any real run;
# they keep counts within what torch and JSON hold exactly and a step's time finite.
MAX_COUNT = 10**12  # steps and intervals
MAX_BATCH = 1 << 16  # sequences of a micro-batch, micro-batches of a step
MAX_LAYERS = 1024  # blocks: laid out on the meta device in about a second
MAX_WIDTH = 1 << 16  # embedding, FFN and context widths
MAX_VOCAB = 1 << 21  # tokens; every Unicode character fits
MAX_SEED = (1 << 63) - 1  # the trainer seeds generators with seed + 1 and seed + 2
MAX_THREADS = 1024
INT_BOUNDS = {  # name: (lowest, highest)
    "block_size": (1, MAX_WIDTH),
    "embedding_dim": (1, MAX_WIDTH),
    "num_heads": (1, MAX_WIDTH),
    "num_layers": (1, MAX_LAYERS),
    "ffn_dim": (1, 4 * MAX_WIDTH),
    "batch_size": (1, MAX_BATCH),
    "grad_accum": (1, MAX_BATCH),
    "warmup_steps": (0, MAX_COUNT),
    "max_steps": (1, MAX_COUNT),
    "eval_interval": (1, MAX_COUNT),
    "eval_batches": (1, MAX_BATCH),
    "log_interval": (1, MAX_COUNT),
    "seed": (0, MAX_SEED),
    "bpe_vocab_size": (257, MAX_VOCAB),  # the 256 bytes and at least one merge
    "early_stop": (0, MAX_COUNT),
}
FLOAT_BOUNDS = {  # name: (lowest, highest, highest included); NaN and infinity never pass
    "dropout": (0.0, 1.0, False),
    "learning_rate": (1e-12, 1e3, True),  # 0 would never move a weight
    "min_lr_ratio": (0.0, 1.0, True),
    "weight_decay": (0.0, 1e3, True),
    "beta1": (0.0, 1.0, False),
    "beta2": (0.0, 1.0, False),
    "grad_clip": (0.0, 1e9, True),  # 0 switches clipping off
}


def check_seed(seed: int | None) -> None:
    """A sampling or training seed torch can take, or a UserError saying what to give."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be an integer from 0 to {MAX_SEED:,}, got {seed}")


@dataclass(frozen=True)
class Config:
    """Model shape and training schedule; derive variants with `dataclasses.replace`."""

    block_size: int = 128  # longest context; rows of the position table
    embedding_dim: int = 256
    num_heads: int = 4
    num_layers: int = 4
    ffn_dim: int | None = None  # None means 4 x embedding_dim, as in the reference design
    dropout: float = 0.0
    batch_size: int = 32  # sequences per micro-batch, on each rank
    grad_accum: int = 1  # micro-batches per optimizer step; the global batch is their product
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at learning_rate * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # global-norm threshold; 0 switches clipping off
    max_steps: int = 2000
    eval_interval: int = 250
    eval_batches: int = 20
    log_interval: int = 1  # steps per StepMetrics; raise it on GPU, where each costs a sync
    seed: int = 1337
    tokenizer: str = "char"  # "char" or "bpe"
    bpe_vocab_size: int = 512
    precision: str = "auto"  # "auto", "fp32" or "bf16" (autocast for the matmuls)
    compile: bool = False  # torch.compile the model (pays a cold compile of tens of seconds)
    keep_best: bool = False  # also keep the checkpoint of the lowest validation loss, in best/
    early_stop: int = 0  # stop after this many evaluations without a new best; 0: never
    # design switches: each turns off (or swaps) one choice of the reference design, so an
    # experiment can show what that choice is for; the defaults are the reference design
    attention_mask: str = "causal"  # "causal" (-inf above the diagonal), "zero" or "none"
    attention_scale: bool = True  # divide q . k by sqrt(head_dim)
    norm_placement: str = "pre"  # "pre": x + f(ln(x)); "post": ln(x + f(x))
    residual: bool = True  # keep the x + ... paths around attention and feed-forward
    feed_forward: bool = True  # the per-position MLP in every block
    position_embedding: bool = True  # learned positions (without: a bag of tokens)
    embedding_combine: str = "add"  # "add" token and position vectors, or "concat" halves
    optimizer: str = "adamw"  # "adamw" or "sgd" (plain SGD, same schedule)

    def __post_init__(self) -> None:
        for name, (low, high) in INT_BOUNDS.items():
            value = getattr(self, name)
            if name == "ffn_dim" and value is None:
                continue  # 4 x embedding_dim
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise UserError(f"{name} must be an integer from {low} to {high:,}, got {value!r}")
        for name, (low, high, closed) in FLOAT_BOUNDS.items():
            value = getattr(self, name)
            inside = low <= value <= high if closed else low <= value < high
            if not (isinstance(value, (int, float)) and math.isfinite(value) and inside):
                end = "]" if closed else ")"
                raise UserError(
                    f"{name} must be a number in [{low:g}, {high:g}{end}, got {value!r}"
                )
        if self.embedding_dim % self.num_heads:
            raise UserError(
                f"embedding_dim ({self.embedding_dim}) must be divisible by num_heads "
                f"({self.num_heads}); change one of them"
            )
        if self.tokenizer not in ("char", "bpe"):
            raise UserError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise UserError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        choices = {
            "attention_mask": ("causal", "zero", "none"),
            "norm_placement": ("pre", "post"),
            "embedding_combine": ("add", "concat"),
            "optimizer": ("adamw", "sgd"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.embedding_combine == "concat" and self.embedding_dim < 2:
            raise UserError("concatenated embeddings need embedding_dim >= 2")

    @property
    def head_dim(self) -> int:
        return self.embedding_dim // self.num_heads

    @property
    def standard(self) -> bool:
        """True when every design switch is the reference design's (the fast paths apply)."""
        return (
            self.attention_mask == "causal"
            and self.attention_scale
            and self.norm_placement == "pre"
            and self.residual
            and self.feed_forward
            and self.position_embedding
            and self.embedding_combine == "add"
        )

    @property
    def hidden_dim(self) -> int:
        """Width of the feed-forward layer's expansion."""
        return self.ffn_dim if self.ffn_dim is not None else 4 * self.embedding_dim

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        """Build from a saved dict, ignoring keys this version does not know; a known key of
        the wrong type (a string, a bool where a number belongs, NaN) raises UserError."""
        if not isinstance(values, dict):
            raise UserError(f"a config is a map of settings, got {type(values).__name__}")
        rules = {
            "int": "an integer",
            "int | None": "an integer or null",
            "float": "a finite number",
            "str": "a string",
            "bool": "true or false",
        }
        settings = {}
        for item in fields(cls):
            if item.name not in values:
                continue
            value = values[item.name]
            whole = isinstance(value, int) and not isinstance(value, bool)
            if item.type == "float" and whole and abs(value) < 1e300:
                value = float(value)
            valid = {
                "int": whole,
                "int | None": whole or value is None,
                "float": isinstance(value, float) and math.isfinite(value),
                "str": isinstance(value, str),
                "bool": isinstance(value, bool),
            }[item.type]  # a KeyError here is a new field type this check must learn
            if not valid:
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                raise UserError(f"{item.name} must be {rules[item.type]}, got {shown}")
            settings[item.name] = value
        return cls(**settings)


PRESETS: dict[str, Config] = {
    # the test suite: trains in a second or two
    "tiny": Config(
        block_size=16,
        embedding_dim=32,
        num_heads=2,
        num_layers=2,
        batch_size=8,
        learning_rate=3e-3,
        warmup_steps=5,
        max_steps=40,
        eval_interval=20,
        eval_batches=2,
    ),
    # the CPU default, tuned for time to quality on two cores: early in training a shallow
    # model buys more loss per second than a deep one, and in fp32 a narrow one more than a
    # wide one, at the price of ending higher after all its steps (search and figures:
    # docs/performance.md)
    "small": Config(
        block_size=64,
        embedding_dim=96,
        num_heads=4,
        num_layers=2,
        batch_size=16,
        learning_rate=3e-3,
        warmup_steps=30,
        max_steps=10000,
        eval_interval=250,
        eval_batches=20,
    ),
    # the nanoGPT CPU recipe's shape, for side-by-side benchmarks
    "recipe": Config(
        block_size=64,
        embedding_dim=128,
        num_heads=4,
        num_layers=4,
        batch_size=12,
        learning_rate=1e-3,
        warmup_steps=100,
        max_steps=2000,
        eval_interval=250,
        eval_batches=20,
    ),
    # the reference design's size
    "seed": Config(
        block_size=256,
        embedding_dim=512,
        num_heads=8,
        num_layers=6,
        ffn_dim=2048,
        batch_size=16,
        learning_rate=6e-4,
        warmup_steps=200,
        max_steps=5000,
        eval_interval=500,
        eval_batches=10,
    ),
}


def preset(name: str) -> Config:
    """The named preset, or a ValueError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


@dataclass(frozen=True)
class SamplingConfig:
    """How the next token is drawn; never saved with a checkpoint."""

    temperature: float = 0.8  # 0 means greedy argmax
    top_k: int | None = 40  # None keeps the whole vocabulary
    top_p: float = 1.0  # nucleus mass; 1 keeps everything
    min_p: float = 0.0  # drop tokens below min_p x the top probability; 0 keeps everything
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the context
    max_new_tokens: int = 200
    num_candidates: int = 10  # candidates reported per step for the probability panel

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise UserError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise UserError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        if not (0.0 < self.top_p <= 1.0):
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (0.0 <= self.min_p < 1.0):
            raise UserError(f"min_p must be in [0, 1), got {self.min_p}")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise UserError(
                f"repetition_penalty must be > 0 (1 is off), got {self.repetition_penalty}"
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1, got {self.max_new_tokens!r}")
        if self.num_candidates < 1:
            raise UserError(f"num_candidates must be >= 1, got {self.num_candidates}")
