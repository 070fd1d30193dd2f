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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from core.checkpoint.store import write_atomic
from core.config import Config
from core.errors import UserError
from core.instruments import (
    ATTENTION,
    GRAD_FLOW,
    GRAD_FLOW_STEPS,
    STEP_SIZES,
    Spike,
    attention_sharpness,
    block_grad_norms,
    spiked_gradients,
    step_size_histogram,
    weights_copy,
)
from core.model import MiniGPT, cross_entropy_for_logits
from core.trainer import TrainingDiverged, TrainingSession
from core.variants import VARIANTS, Arm, variant_arms
from core.verdict import band

RESULTS_FILE = "race.json"
# a variant that sees nothing it should not gives the same loss under the real causal mask, to
# float noise; more than this apart, it leaks
LEAK_NATS = 1e-3
MAX_SEEDS = 5


@dataclass(frozen=True)
class CurvePoint:
    step: int
    seconds: float  # this variant's training seconds so far (evaluations excluded)
    train_loss: float
    val_loss: float
    val_bpc: float
    causal_val_loss: float
    # the lowest and highest seed's causal loss (set on an arm's mean curve over seeds)
    causal_low: float = math.nan
    causal_high: float = math.nan


@dataclass(frozen=True)
class RaceProgress:
    """One arm evaluated at one step, on one seed (counted from 0)."""

    variant: str
    point: CurvePoint
    seed: int = 0


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
    curve: tuple[CurvePoint, ...]  # the mean over seeds, with the causal loss's band
    sample: str
    variant: str = "baseline"  # the catalogue variant this arm applies
    seeds: int = 1
    causal_spread: float = 0.0  # half the seeds' range of the final causal loss
    seed_curves: tuple[tuple[float, ...], ...] = ()  # each seed's causal loss per evaluation
    seed_bpc: tuple[tuple[float, ...], ...] = ()  # each seed's val bpc per evaluation
    instruments: dict = field(default_factory=dict)  # the first seed's, by instrument
    diverged_at: int | None = None  # the first step a seed's loss stopped being finite
    settings: dict = field(default_factory=dict)


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
    """One arm at one seed in a race: its session and what is measured about it."""

    def __init__(
        self, arm: Arm, config: Config, text: str, seed: int, instruments: tuple[str, ...]
    ) -> None:
        self.arm, self.seed, self.instruments = arm, seed, instruments
        self.session = TrainingSession(config, text, "cpu")
        val_ids = self.session.val_data.ids
        self.val_tokens = val_ids.numel()
        self.val_characters = len(self.session.tokenizer.decode(val_ids.tolist()))
        self.memory_mb = step_memory_mb(self.session)
        self.step_seconds: list[float] = []
        self.curve: list[CurvePoint] = []
        self.diverged_at: int | None = None
        self.measured: dict = {}
        self.causal_twin: MiniGPT | None = None
        if config.attention_mask != "causal":
            vocab_size = self.session.tokenizer.vocab_size
            self.causal_twin = MiniGPT(replace(config, attention_mask="causal"), vocab_size)
        if ATTENTION in instruments:
            self.measured["attention_init"] = self._attention()

    def train(self, steps: int, spike: Spike | None) -> float:
        session = self.session
        loss = math.nan
        for _ in range(steps):
            if self.diverged_at is not None:
                return math.nan
            step = session.step + 1
            before = weights_copy(session.model) if self._histogram_due(step) else None
            spiking = spike is not None and step == spike.step
            started = time.perf_counter()
            try:
                if spiking:
                    with spiked_gradients(session.model, spike.factor):
                        metrics = session.train_step()
                else:
                    metrics = session.train_step()
            except TrainingDiverged:  # the lesson of a spike without clipping: kept, not raised
                self.diverged_at = step
                return math.nan
            self.step_seconds.append(time.perf_counter() - started)
            loss = metrics.loss
            self._measure(step, metrics.grad_norm, before, spiking)
        return loss

    def _histogram_due(self, step: int) -> bool:
        return STEP_SIZES in self.instruments and step == max(1, self.session.config.max_steps // 2)

    def _measure(self, step: int, grad_norm: float, before: list | None, spiking: bool) -> None:
        measured, model = self.measured, self.session.model
        if GRAD_FLOW in self.instruments and step <= GRAD_FLOW_STEPS:
            norms = block_grad_norms(model, grad_norm)
            summed = measured.setdefault("grad_flow", [0.0] * len(norms))
            measured["grad_flow"] = [
                a + b / GRAD_FLOW_STEPS for a, b in zip(summed, norms, strict=True)
            ]
        if before is not None:
            measured["step_sizes"] = step_size_histogram(model, before)
            measured["step_sizes_at"] = step
        if spiking:
            measured["spike_grad_norm"] = grad_norm
        if ATTENTION in self.instruments and step == max(1, self.session.config.max_steps // 10):
            measured["attention_early"] = {"step": step, **self._attention()}

    def _attention(self) -> dict[str, float]:
        session = self.session
        generator = torch.Generator().manual_seed(0)
        idx, _ = session.val_data.batch(4, generator)  # (4, T)
        return attention_sharpness(session.model, idx)

    def evaluate(self, train_loss: float) -> CurvePoint:
        session = self.session
        if self.diverged_at is not None:
            val_loss = causal = math.nan
        else:
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

    def finish(self) -> None:
        if ATTENTION in self.instruments and self.diverged_at is None:
            self.measured["attention_end"] = self._attention()


def race(
    base: Config,
    text: str,
    arms: list[str] | list[Arm],
    steps: int,
    evaluations: int = 10,
    block_steps: int = 10,
    stop: Callable[[], bool] = lambda: False,
    seeds: int = 1,
    spike: Spike | None = None,
    instruments: tuple[str, ...] = (),
) -> Iterator[RaceProgress | tuple[VariantResult, ...]]:
    """Train the arms side by side; yields each evaluation, then the results.

    Every arm starts from `base` with the same seed, so they draw the same batches (a
    batch-size variant draws fewer sequences per step from the same generator); seed i adds
    i to it for every arm, so arms are compared seed by seed. Blocks of `block_steps` steps
    alternate between arms and seeds, so a slow spell of the machine costs them all alike.
    `stop()` is asked between blocks; a stopped race still reports where each arm got to.
    """
    if steps < 1:
        raise UserError(f"a race needs at least one step, got {steps}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"seeds must be from 1 to {MAX_SEEDS}, got {seeds}")
    if arms and isinstance(arms[0], Arm):
        names = [arm.name for arm in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must differ: {names}")
    else:
        arms = variant_arms(arms)
    runners = []
    for seed in range(seeds):
        for arm in arms:
            scaled = steps * arm.steps_scale
            config = replace(
                arm.config(base),
                max_steps=scaled,
                warmup_steps=min(base.warmup_steps * arm.steps_scale, scaled // 10),
                seed=base.seed + seed,
            )
            runners.append(_Runner(arm, config, text, seed, instruments))
    every = max(1, steps // max(1, evaluations))
    losses = {id(runner): math.nan for runner in runners}
    for runner in runners:  # the untrained starting point, step 0
        yield RaceProgress(runner.arm.name, runner.evaluate(math.nan), runner.seed)
    done = evaluated = 0
    while done < steps and not stop():
        block = min(block_steps, steps - done, every - done % every)
        for runner in runners:
            scale = runner.arm.steps_scale
            arm_spike = spike if spike is None else Spike(spike.step * scale, spike.factor)
            losses[id(runner)] = runner.train(block * scale, arm_spike)
        done += block
        if done % every == 0 or done == steps:
            evaluated = done
            for runner in runners:
                point = runner.evaluate(losses[id(runner)])
                yield RaceProgress(runner.arm.name, point, runner.seed)
    if evaluated != done:
        for runner in runners:
            point = runner.evaluate(losses[id(runner)])
            yield RaceProgress(runner.arm.name, point, runner.seed)
    for runner in runners:
        runner.finish()
    yield tuple(_result([r for r in runners if r.arm is arm]) for arm in arms)


def _result(runners: list[_Runner]) -> VariantResult:
    """An arm's result over its seeds: the mean curve with its band, the first seed's
    sample, speed and instruments."""
    first = runners[0]
    session, arm = first.session, first.arm
    variant = VARIANTS[arm.variant]
    times = [s for runner in runners for s in runner.step_seconds]
    # a race stopped before its first block has timed no step
    median = statistics.median(times) if times else math.nan
    config = session.config
    curve = []
    for points in zip(*(runner.curve for runner in runners), strict=True):
        causal = band([p.causal_val_loss for p in points])
        mean = statistics.fmean
        curve.append(
            CurvePoint(
                step=points[0].step,
                seconds=mean(p.seconds for p in points),
                train_loss=mean(p.train_loss for p in points),
                val_loss=mean(p.val_loss for p in points),
                val_bpc=mean(p.val_bpc for p in points),
                causal_val_loss=causal.mean,
                causal_low=causal.low,
                causal_high=causal.high,
            )
        )
    last = curve[-1]
    diverged = [r.diverged_at for r in runners if r.diverged_at is not None]
    return VariantResult(
        name=arm.name,
        question=variant.question,
        shows=variant.shows,
        val_loss=last.val_loss,
        causal_val_loss=last.causal_val_loss,
        val_bpc=last.val_bpc,
        causal_val_bpc=bits_per_character(
            last.causal_val_loss, first.val_tokens, first.val_characters
        ),
        parameters=session.model.num_parameters(),
        ms_per_step=median * 1000,
        tokens_per_second=config.batch_size * config.block_size / median,
        peak_memory_mb=first.memory_mb,
        curve=tuple(curve),
        sample=session.sample_text() if first.diverged_at is None else "",
        variant=arm.variant,
        seeds=len(runners),
        causal_spread=(last.causal_high - last.causal_low) / 2,
        seed_curves=tuple(tuple(p.causal_val_loss for p in r.curve) for r in runners),
        seed_bpc=tuple(tuple(p.val_bpc for p in r.curve) for r in runners),
        instruments=first.measured,
        diverged_at=min(diverged) if diverged else None,
        settings=_settings(config),
    )


def _settings(config: Config) -> dict:
    """The settings a learner compares between arms: shape, rate, batch, steps."""
    keys = ("num_layers", "num_heads", "embedding_dim", "block_size", "batch_size")
    values = {key: getattr(config, key) for key in keys}
    values.update(lr=config.learning_rate, steps=config.max_steps, ffn=config.hidden_dim)
    values.update(optimizer=config.optimizer, tokenizer=config.tokenizer)
    return values


def results_to_dict(results: tuple[VariantResult, ...], base: Config, steps: int) -> dict:
    """The JSON form of a race: `{"config", "steps", "seeds", "variants": [...]}`."""
    variants = []
    keys = ("step", "seconds", "val_loss", "val_bpc", "causal_val_loss", "causal_low")
    for result in results:
        values = asdict(result)
        values["curve"] = [
            {k: point[k] for k in (*keys, "causal_high")} for point in values["curve"]
        ]
        variants.append(values)
    seeds = max((result.seeds for result in results), default=1)
    return {"config": asdict(base), "steps": steps, "seeds": seeds, "variants": variants}


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
