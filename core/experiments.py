"""Ablation races: the baseline and variants of the reference design, trained side by side.

Each variant is one `Config` switch that the real model and trainer honour. A race trains the
baseline and its variants in one process, interleaved in blocks of steps with the same seed
and data order, evaluates them at the same steps, and reports what each choice is for.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from core.checkpoint.store import write_atomic
from core.config import Config
from core.errors import UserError
from core.model import MiniGPT, cross_entropy_for_logits
from core.trainer import TrainingSession
from core.variants import VARIANTS, Variant, parse_variants

RESULTS_FILE = "race.json"
# a variant that sees nothing it should not gives the same loss under the real causal mask, to
# float noise; more than this apart, it leaks
LEAK_NATS = 1e-3


@dataclass(frozen=True)
class CurvePoint:
    step: int
    seconds: float  # this variant's training seconds so far (evaluations excluded)
    train_loss: float
    val_loss: float
    val_bpc: float
    causal_val_loss: float


@dataclass(frozen=True)
class RaceProgress:
    """One variant evaluated at one step."""

    variant: str
    point: CurvePoint


@dataclass(frozen=True)
class VariantResult:
    """Where a variant ended, with its whole curve and a sample."""

    name: str
    question: str
    shows: str
    val_loss: float
    causal_val_loss: float
    val_bpc: float
    causal_val_bpc: float
    parameters: int
    ms_per_step: float
    tokens_per_second: float
    peak_memory_mb: float
    curve: tuple[CurvePoint, ...]
    sample: str


def bits_per_character(loss: float, tokens: int, characters: int) -> float:
    """Nats per token to bits per character: loss x tokens / characters / ln 2."""
    return loss * tokens / characters / math.log(2)


def step_memory_mb(session: TrainingSession) -> float:
    """Tensor memory of one training step: weights, gradients, optimizer moments and the
    activations autograd saves for the backward pass, counted tensor by tensor."""
    model, config = session.model, session.config
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    idx, targets = session.train_data.batch(config.batch_size, torch.Generator().manual_seed(0))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = cross_entropy_for_logits(model(idx), targets)
    loss.backward()
    model.zero_grad(set_to_none=True)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    moments = 0 if config.optimizer == "sgd" else 2 * weights
    return (saved + 2 * weights + moments) / 2**20  # weights, gradients, moments, activations


class _Runner:
    """One variant in a race: its session and what is measured about it."""

    def __init__(self, variant: Variant, config: Config, text: str) -> None:
        self.variant = variant
        self.session = TrainingSession(config, text, "cpu")
        val_ids = self.session.val_data.ids
        self.val_tokens = val_ids.numel()
        self.val_characters = len(self.session.tokenizer.decode(val_ids.tolist()))
        self.memory_mb = step_memory_mb(self.session)
        self.step_seconds: list[float] = []
        self.curve: list[CurvePoint] = []
        self.causal_twin: MiniGPT | None = None
        if config.attention_mask != "causal":
            vocab_size = self.session.tokenizer.vocab_size
            self.causal_twin = MiniGPT(replace(config, attention_mask="causal"), vocab_size)

    def train(self, steps: int) -> float:
        session = self.session
        loss = math.nan
        for _ in range(steps):
            started = time.perf_counter()
            loss = session.train_step().loss
            self.step_seconds.append(time.perf_counter() - started)
        return loss

    def evaluate(self, train_loss: float) -> CurvePoint:
        session = self.session
        val_loss = session.evaluate()
        causal = val_loss
        if self.causal_twin is not None:  # the same weights under the real causal mask
            self.causal_twin.load_state_dict(session.model.state_dict())
            causal = session.evaluate(model=self.causal_twin)
        point = CurvePoint(
            step=session.step,
            seconds=sum(self.step_seconds),
            train_loss=train_loss,
            val_loss=val_loss,
            val_bpc=bits_per_character(val_loss, self.val_tokens, self.val_characters),
            causal_val_loss=causal,
        )
        self.curve.append(point)
        return point

    def result(self) -> VariantResult:
        session, last = self.session, self.curve[-1]
        # a race stopped before its first block has timed no step
        median = statistics.median(self.step_seconds) if self.step_seconds else math.nan
        config = session.config
        return VariantResult(
            name=self.variant.name,
            question=self.variant.question,
            shows=self.variant.shows,
            val_loss=last.val_loss,
            causal_val_loss=last.causal_val_loss,
            val_bpc=last.val_bpc,
            causal_val_bpc=bits_per_character(
                last.causal_val_loss, self.val_tokens, self.val_characters
            ),
            parameters=session.model.num_parameters(),
            ms_per_step=median * 1000,
            tokens_per_second=config.batch_size * config.block_size / median,
            peak_memory_mb=self.memory_mb,
            curve=tuple(self.curve),
            sample=session.sample_text(),
        )


def race(
    base: Config,
    text: str,
    variants: list[str],
    steps: int,
    evaluations: int = 10,
    block_steps: int = 10,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[RaceProgress | tuple[VariantResult, ...]]:
    """Train the variants side by side; yields each evaluation, then the results.

    Every variant starts from `base` with the same seed, so they draw the same batches (a
    batch-size variant draws fewer sequences per step from the same generator). Blocks of
    `block_steps` steps alternate between the variants, so a slow spell of the machine costs
    them all alike. `stop()` is asked between blocks; a stopped race still reports where each
    variant got to.
    """
    if steps < 1:
        raise UserError(f"a race needs at least one step, got {steps}")
    base = replace(base, max_steps=steps, warmup_steps=min(base.warmup_steps, steps // 10))
    runners = [
        _Runner(VARIANTS[name], VARIANTS[name].change(base), text)
        for name in parse_variants(variants)
    ]
    every = max(1, steps // max(1, evaluations))
    losses = {runner.variant.name: math.nan for runner in runners}
    for runner in runners:  # the untrained starting point, step 0
        yield RaceProgress(runner.variant.name, runner.evaluate(math.nan))
    done = 0
    while done < steps and not stop():
        block = min(block_steps, steps - done, every - done % every)
        for runner in runners:
            losses[runner.variant.name] = runner.train(block)
        done += block
        if done % every == 0 or done == steps:
            for runner in runners:
                yield RaceProgress(
                    runner.variant.name, runner.evaluate(losses[runner.variant.name])
                )
    if runners[0].curve[-1].step != done:
        for runner in runners:
            yield RaceProgress(runner.variant.name, runner.evaluate(losses[runner.variant.name]))
    yield tuple(runner.result() for runner in runners)


def results_to_dict(results: tuple[VariantResult, ...], base: Config, steps: int) -> dict:
    """The JSON form of a race: `{"config", "steps", "variants": [...]}`."""
    variants = []
    for result in results:
        values = asdict(result)
        values["curve"] = [
            {k: point[k] for k in ("step", "seconds", "val_loss", "val_bpc", "causal_val_loss")}
            for point in values["curve"]
        ]
        variants.append(values)
    return {"config": asdict(base), "steps": steps, "variants": variants}


def save_race(directory: str | Path, report: dict) -> Path:
    """Write a race's JSON into `directory/race.json` (atomically); returns the file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS_FILE
    write_atomic(path, json.dumps(report, indent=1).encode())
    return path


def load_race(path: str | Path) -> dict:
    """A saved race (its folder or its race.json), or a UserError saying what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"{path} is not a saved race (no {RESULTS_FILE}); run minigpt experiment")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is corrupt ({error}); run the race again") from None
    if not isinstance(report, dict) or not isinstance(report.get("variants"), list):
        raise UserError(f"{path} is not a saved race")
    return report
