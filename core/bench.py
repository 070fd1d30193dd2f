"""Speed measurements for `minigpt bench`: matmul peak, training steps and decode latency.

Everything returned is plain values; the front end formats them. Timings are wall-clock and
noisy on a shared machine, so comparisons interleave their sides within one process.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch

from core.config import Config, SamplingConfig
from core.decode import Decoder
from core.device import resolve_device, set_threads
from core.generation import GenerationSession
from core.model import MiniGPT
from core.tokenizer import Tokenizer
from core.trainer import StepMetrics, TrainingSession, resolve_precision

PEAK_MATMUL_SIZE = 2048


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile(values: list[float] | tuple[float, ...], fraction: float) -> float:
    """The value below which `fraction` of the values lie (linear interpolation)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_memory_mb(device: torch.device | str | None = None) -> float | None:
    """High-water mark of memory in MiB: torch's allocator on CUDA, else the process RSS."""
    device = resolve_device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def matmul_peak_gflops(
    precision: str,
    seconds: float = 1.0,
    size: int = PEAK_MATMUL_SIZE,
    device: torch.device | str | None = None,
) -> float:
    """The best GFLOP/s of back-to-back size x size matmuls in "fp32" or "bf16".

    The time is split into five windows and the fastest counts: a peak is what the machine
    can do, and other load on it only ever slows a window down.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    device = resolve_device(device)
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)  # (N, N)
    b = torch.randn(size, size, generator=generator).to(device, dtype)  # (N, N)
    out = torch.empty(size, size, dtype=dtype, device=device)  # (N, N)
    torch.matmul(a, b, out=out)
    _synchronize(device)
    flops = 2 * size**3
    best = 0.0
    for _ in range(5):
        count = 0
        started = time.perf_counter()
        while True:
            torch.matmul(a, b, out=out)
            count += 1
            _synchronize(device)
            elapsed = time.perf_counter() - started
            if elapsed >= seconds / 5:
                break
        best = max(best, flops * count / elapsed / 1e9)
    return best


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainVariant:
    """One side of a training benchmark: a config and the intra-op threads to run it with."""

    name: str
    config: Config
    threads: int | None = None  # None keeps torch's current setting


@dataclass(frozen=True)
class TrainResult:
    """Step times of one variant, measured after its warm-up."""

    name: str
    precision: str  # "fp32" or "bf16", as resolved for the device
    compile: bool
    threads: int
    parameters: int
    vocab_size: int
    tokens_per_step: int
    flops_per_token: int  # forward + backward, as MiniGPT.flops_per_token counts them
    untimed_seconds: float  # the warm-up steps before timing, compilation included
    step_seconds: tuple[float, ...]  # every measured step, in the order they ran

    @property
    def median_step_ms(self) -> float:
        return statistics.median(self.step_seconds) * 1000

    @property
    def p90_step_ms(self) -> float:
        return percentile(self.step_seconds, 0.9) * 1000

    @property
    def min_step_ms(self) -> float:
        return min(self.step_seconds) * 1000

    @property
    def tokens_per_second(self) -> float:
        """Steady-state throughput: tokens of one step over the median step time."""
        return self.tokens_per_step / statistics.median(self.step_seconds)

    @property
    def achieved_gflops(self) -> float:
        return self.flops_per_token * self.tokens_per_second / 1e9


def _timed_steps(events: Iterator[StepMetrics], count: int) -> list[float]:
    """Seconds between consecutive events, so the loop's own overhead counts too."""
    times = []
    started = time.perf_counter()
    for _ in range(count):
        next(events)
        now = time.perf_counter()
        times.append(now - started)
        started = now
    return times


def bench_training(
    variants: list[TrainVariant],
    text: str,
    steps: int,
    untimed_steps: int,
    block_steps: int = 5,
    device: torch.device | str | None = None,
    tokenizer: Tokenizer | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[TrainResult]:
    """Time `steps` training steps of each variant with the real `TrainingSession` loop.

    Each variant first runs `untimed_steps` warm-up steps (compilation happens there). With
    several variants, the timed steps run in blocks of `block_steps`, alternating sides
    (A B B A ...), so drifts in machine load fall on both sides alike and a ratio of medians
    stays meaningful on a noisy machine.
    """
    if not variants:
        raise ValueError("bench_training needs at least one variant")
    if steps < 1 or untimed_steps < 0 or block_steps < 1:
        raise ValueError(
            f"need steps >= 1, untimed_steps >= 0 and block_steps >= 1; got {steps}, "
            f"{untimed_steps}, {block_steps}"
        )
    device = resolve_device(device)
    previous_threads = set_threads(None)
    total = untimed_steps + steps + 1  # one spare, so the final step's evaluation never runs
    sessions: list[TrainingSession] = []
    for variant in variants:
        config = replace(variant.config, max_steps=total, eval_interval=total, log_interval=1)
        session = TrainingSession(config, text, device, tokenizer=tokenizer)
        tokenizer = tokenizer or session.tokenizer
        sessions.append(session)
    events = [session.steps() for session in sessions]
    threads = [variant.threads or previous_threads for variant in variants]
    untimed_seconds = []
    try:
        for i, variant in enumerate(variants):
            if on_progress is not None:
                on_progress(f"warming up {variant.name} ({untimed_steps} steps)")
            set_threads(threads[i])
            untimed_seconds.append(sum(_timed_steps(events[i], untimed_steps)))
        if on_progress is not None:
            on_progress(f"timing {steps} steps of {', '.join(v.name for v in variants)}")
        times: list[list[float]] = [[] for _ in variants]
        order = list(range(len(variants)))
        while len(times[0]) < steps:
            count = min(block_steps, steps - len(times[0]))
            for i in order:
                set_threads(threads[i])
                times[i].extend(_timed_steps(events[i], count))
            order.reverse()
    finally:
        for stream in events:
            stream.close()
        set_threads(previous_threads)
    return [
        TrainResult(
            name=variant.name,
            precision="bf16" if resolve_precision(session.config, device) else "fp32",
            compile=session.config.compile,
            threads=threads[i],
            parameters=session.model.num_parameters(),
            vocab_size=session.tokenizer.vocab_size,
            tokens_per_step=session.config.batch_size * session.config.block_size,
            flops_per_token=session.model.flops_per_token(),
            untimed_seconds=untimed_seconds[i],
            step_seconds=tuple(times[i]),
        )
        for i, (variant, session) in enumerate(zip(variants, sessions, strict=True))
    ]


# --- time to quality ------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityPoint:
    step: int
    seconds: float  # wall time since the session was built, the bench's own evaluations excluded
    val_loss: float


@dataclass(frozen=True)
class QualityResult:
    """A training run's validation loss against wall time, up to a target loss."""

    target: float
    setup_seconds: float  # building the session: tokenizing the corpus, the model
    curve: tuple[QualityPoint, ...]

    @property
    def reached(self) -> QualityPoint | None:
        """The first point at or below the target, if the run got there."""
        return next((point for point in self.curve if point.val_loss <= self.target), None)


def bench_time_to_quality(
    config: Config,
    text: str,
    target: float,
    eval_every: int,
    max_seconds: float,
    eval_tokens: int | None = None,
    device: torch.device | str | None = None,
    on_point: Callable[[QualityPoint], None] | None = None,
) -> QualityResult:
    """Train `config` with the real loop until the validation loss reaches `target`.

    The clock runs from building the session and includes the run's own evaluations and
    samples (as a user's run pays them). Every `eval_every` steps the curve gets a point from
    an evaluation over about `eval_tokens` held-out tokens (default: the run's own
    eval_batches), taken off the clock. Stops at the target or after `max_seconds`.
    """
    if eval_every < 1 or max_seconds <= 0:
        raise ValueError(
            f"need eval_every >= 1 and max_seconds > 0; got {eval_every}, {max_seconds}"
        )
    tokens_per_batch = config.batch_size * config.block_size
    batches = max(1, round(eval_tokens / tokens_per_batch)) if eval_tokens else None
    started = time.perf_counter()
    session = TrainingSession(config, text, resolve_device(device))
    setup_seconds = time.perf_counter() - started
    off_clock = 0.0
    curve: list[QualityPoint] = []
    events = session.steps()
    try:
        for metrics in events:
            if metrics.step % eval_every and metrics.step < config.max_steps:
                continue
            evaluating = time.perf_counter()
            val_loss = session.evaluate(batches)
            now = time.perf_counter()
            off_clock += now - evaluating
            point = QualityPoint(metrics.step, now - started - off_clock, val_loss)
            curve.append(point)
            if on_point is not None:
                on_point(point)
            if val_loss <= target or point.seconds >= max_seconds:
                break
    finally:
        events.close()
    return QualityResult(target, setup_seconds, tuple(curve))


# --- generation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionLatency:
    """Time of one forward pass for the token at `position`, with and without the cache."""

    position: int  # tokens before this one in the window
    cached_ms: float
    uncached_ms: float


@dataclass(frozen=True)
class DecodeRun:
    """One whole `GenerationSession.stream`: sampling, candidates and window slides included."""

    tokens_per_second: float  # new tokens over the run's wall time
    step_ms: float  # median wall time of one step, sampling included
    forward_ms: float  # median forward pass of one step, window slides left out


@dataclass(frozen=True)
class GenerationResult:
    """Prefill, decode and per-position latency of one model."""

    parameters: int
    block_size: int
    vocab_size: int
    new_tokens: int
    prefill_ms: float  # one forward over a full block into an empty cache
    token_by_token_ms: float  # the same block fed one position at a time through the cache
    cached: DecodeRun
    uncached: DecodeRun  # use_cache=False: every step recomputes the whole window
    latencies: tuple[PositionLatency, ...]

    @property
    def prefill_speedup(self) -> float:
        """How much faster one full-block forward is than feeding the block token by token."""
        return self.token_by_token_ms / self.prefill_ms

    @property
    def cache_speedup(self) -> float:
        return self.cached.tokens_per_second / self.uncached.tokens_per_second


def _interleaved_ms(
    runs: dict[object, Callable[[], object]],
    device: torch.device,
    seconds: float,
    min_rounds: int = 5,
) -> dict[object, float]:
    """Median wall time in ms of each run, taking turns round by round.

    Each round calls every run once, so a burst of other load lands on all of them alike
    instead of on whichever was being timed when it came.
    """
    for run in runs.values():
        run()
    _synchronize(device)
    times: dict[object, list[float]] = {key: [] for key in runs}
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        for key, run in runs.items():
            started = time.perf_counter()
            run()
            _synchronize(device)
            times[key].append(time.perf_counter() - started)
        rounds += 1
    return {key: statistics.median(values) * 1000 for key, values in times.items()}


def default_positions(block_size: int) -> list[int]:
    """8, a quarter, a half and the last position of a block, without repeats."""
    wanted = (8, block_size // 4, block_size // 2, block_size - 1)
    return sorted({min(max(p, 0), block_size - 1) for p in wanted})


def _decode_runs(
    model: MiniGPT, tokenizer: Tokenizer, new_tokens: int, turn_tokens: int = 25
) -> list[DecodeRun]:
    """Cached and uncached generation from an empty prompt, taking turns every `turn_tokens`.

    Each side runs warm, as in a real generation (a recomputation between two cached steps
    would evict what they read), while a burst of other load still lands on both sides and
    their ratio stays meaningful.
    """
    sampling = SamplingConfig(max_new_tokens=new_tokens)
    streams, step_seconds, forward_ms = [], [], []
    for use_cache in (True, False):
        warm = GenerationSession(model, tokenizer, sampling, seed=0, use_cache=use_cache)
        for _ in warm.stream("", min(8, new_tokens)):
            pass
        session = GenerationSession(model, tokenizer, sampling, seed=0, use_cache=use_cache)
        streams.append(session.stream("", new_tokens))
        step_seconds.append([])
        forward_ms.append([])
    for turn_start in range(0, new_tokens, turn_tokens):
        turn = min(turn_tokens, new_tokens - turn_start)
        for stream, seconds, forward in zip(streams, step_seconds, forward_ms, strict=True):
            for _ in range(turn):
                started = time.perf_counter()
                step = next(stream)
                seconds.append(time.perf_counter() - started)
                if not step.slid:
                    forward.append(step.forward_ms)
    return [
        DecodeRun(
            tokens_per_second=new_tokens / sum(seconds),
            step_ms=statistics.median(seconds[1:] or seconds) * 1000,  # [0] holds the prefill
            forward_ms=statistics.median(forward),
        )
        for seconds, forward in zip(step_seconds, forward_ms, strict=True)
    ]


@torch.inference_mode()
def bench_generation(
    model: MiniGPT,
    tokenizer: Tokenizer,
    new_tokens: int,
    positions: list[int] | None = None,
    seconds: float = 2.0,
    on_progress: Callable[[str], None] | None = None,
) -> GenerationResult:
    """Measure prefill, cached and uncached decode, and decode latency at several positions.

    `seconds` is the time spent on the prefill and latency measurements (at least 5 rounds).
    """
    if new_tokens < 1:
        raise ValueError(f"new_tokens must be >= 1, got {new_tokens}")
    model.eval()
    device = next(model.parameters()).device
    block_size = model.config.block_size
    positions = positions or default_positions(block_size)
    if any(not 0 <= p < block_size for p in positions):
        raise ValueError(f"positions must lie in [0, {block_size - 1}], got {positions}")
    generator = torch.Generator().manual_seed(0)
    block = torch.randint(model.vocab_size, (1, block_size), generator=generator).to(device)
    decoder = Decoder(model)
    prefill_cache = model.new_kv_cache()

    def prefill() -> None:
        prefill_cache.reset()
        model(block, kv_cache=prefill_cache)  # (1, T, V)

    def token_by_token() -> None:
        prefill_cache.reset()
        for token_id in block[0].tolist():
            decoder(token_id, prefill_cache)  # (V,)

    def decode_one(position: int) -> Callable[[], None]:
        cache = model.new_kv_cache()
        if position:
            model(block[:, :position], kv_cache=cache)  # (1, P, V)
        token_id = int(block[0, position])

        def run() -> None:
            decoder(token_id, cache)  # (V,)
            cache.rewind(1)

        return run

    def recompute_window(position: int) -> Callable[[], None]:
        window = block[:, : position + 1]  # (1, P + 1)
        return lambda: model(window)  # (1, P + 1, V)

    # each round: recomputations, then the cached runs back to back, as in a real decode;
    # a recomputation between two cached steps would evict the cache they read
    runs: dict[object, Callable[[], object]] = {
        (position, False): recompute_window(position) for position in positions
    }
    runs["prefill"] = prefill
    runs["token_by_token"] = token_by_token
    for position in positions:
        runs[position, True] = decode_one(position)
    if on_progress is not None:
        on_progress(f"timing prefill and decode latency at positions {positions}")
    medians = _interleaved_ms(runs, device, seconds)
    latencies = tuple(
        PositionLatency(position, medians[position, True], medians[position, False])
        for position in positions
    )

    if on_progress is not None:
        on_progress(f"generating {new_tokens} tokens with and without the cache, in turns")
    cached, uncached = _decode_runs(model, tokenizer, new_tokens)
    return GenerationResult(
        parameters=model.num_parameters(),
        block_size=block_size,
        vocab_size=model.vocab_size,
        new_tokens=new_tokens,
        prefill_ms=medians["prefill"],
        token_by_token_ms=medians["token_by_token"],
        cached=cached,
        uncached=uncached,
        latencies=latencies,
    )


def untrained_model(
    config: Config, vocab_size: int, device: torch.device | str | None = None
) -> MiniGPT:
    """A freshly initialised MiniGPT in eval mode, seeded from config.seed."""
    torch.manual_seed(config.seed)
    return MiniGPT(config, vocab_size).to(resolve_device(device)).eval()
