"""The precision training runs in: bf16 autocast only where this machine runs it faster.

Whether bf16 pays depends on the CPU (AMX tiles, AVX512-BF16 or neither) and on the model's
shapes (small matmuls lose more to casts than they gain), so `auto` measures: a short
calibration at the model's own shapes, both ways, cached per CPU model, torch version,
thread count and shape in the user's cache folder.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

from core.config import Config
from core.fast.attention import use_fast_attention
from core.model import MiniGPT

CACHE_FILE = "precision.json"
MIN_SPEEDUP = 1.05  # bf16 must win by this much; a tie keeps fp32's exact arithmetic
CALIBRATION_SECONDS = 2.0
# raised when the bf16 or fp32 step itself changes, so earlier measurements are not reused
STEP_VERSION = 2
# below this width a step is too small for bf16's casts to pay for themselves (measured at the
# tiny preset's width, docs/performance.md): no need to measure it each time
NARROW = 96
_this_process: dict[str, float] = {}  # measured in this process (a busy machine's too)


@dataclass(frozen=True)
class PrecisionChoice:
    """The autocast dtype a run uses (None: plain fp32) and why, in one line."""

    dtype: torch.dtype | None
    reason: str
    bf16_speedup: float | None = None  # measured fp32 time / bf16 time, when measured

    @property
    def name(self) -> str:
        return "bf16" if self.dtype is torch.bfloat16 else "fp32"


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/minigpt, else ~/.cache/minigpt."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "minigpt"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@lru_cache(maxsize=1)
def bf16_instructions() -> str | None:
    """ "AMX" or "AVX512-BF16" when the CPU has native bf16 matrix instructions, else None."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def choose_precision(
    config: Config, vocab_size: int, device: torch.device, recalibrate: bool = False
) -> PrecisionChoice:
    """bf16 or fp32 for this run: as asked, or for `auto` by the rule and measurement above."""
    if config.precision == "fp32":
        return PrecisionChoice(None, "fp32 as asked (--precision fp32)")
    if config.precision == "bf16":
        return PrecisionChoice(torch.bfloat16, "bf16 autocast as asked (--precision bf16)")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice(torch.bfloat16, "bf16 autocast: this GPU supports it")
        return PrecisionChoice(None, "fp32: this GPU has no bf16")
    if device.type != "cpu":
        return PrecisionChoice(None, f"fp32: autocast is not used on {device.type}")
    isa = bf16_instructions()
    if isa is None:
        return PrecisionChoice(None, "fp32: this CPU has no bf16 matrix instructions")
    if config.embedding_dim < NARROW:
        return PrecisionChoice(
            None, f"fp32: at width {config.embedding_dim} the casts cost more than bf16 saves"
        )
    key = _cache_key(config, vocab_size)
    cache = {**_read_cache(), **_this_process}
    speedup = None if recalibrate else cache.get(key)
    measured = "cached measurement"
    if not isinstance(speedup, float):
        quiet = _machine_is_quiet()
        speedup = calibrate(config, vocab_size)
        measured = "measured just now"
        _this_process[key] = speedup
        if quiet:
            _write_cache({**_read_cache(), key: speedup})
        else:  # other work skews a measurement: use it for this run, measure again next time
            measured += " on a busy machine, not cached"
    dtype = torch.bfloat16 if speedup >= MIN_SPEEDUP else None
    verdict = "bf16 autocast" if dtype is not None else "fp32"
    return PrecisionChoice(
        dtype,
        f"{verdict}: bf16 steps run {speedup:.2f}x as fast as fp32 at this shape on this "
        f"{isa} CPU ({measured})",
        speedup,
    )


def _machine_is_quiet() -> bool:
    """Nothing else is running: the 1-minute load average is under half the cores."""
    try:
        return os.getloadavg()[0] < 0.5 * (os.cpu_count() or 1)
    except OSError:
        return True


def _cache_key(config: Config, vocab_size: int) -> str:
    shape = (
        f"C{config.embedding_dim} L{config.num_layers} H{config.num_heads} "
        f"F{config.hidden_dim} T{config.block_size} B{config.batch_size} V{vocab_size}"
    )
    return (
        f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {shape}"
        f" | step v{STEP_VERSION}"
    )


def _read_cache() -> dict:
    try:
        values = json.loads((cache_folder() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def _write_cache(values: dict) -> None:
    """Best effort: a cache folder that cannot be written only costs a new calibration."""
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{CACHE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(values, indent=1), encoding="utf-8")
        os.replace(tmp, folder / CACHE_FILE)
    except OSError:
        pass


def calibrate(config: Config, vocab_size: int, seconds: float = CALIBRATION_SECONDS) -> float:
    """fp32 step time over bf16-autocast step time at this shape: forward, backward and an
    AdamW step on a fresh model, alternating one step of each. Leaves torch's RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MiniGPT(config, vocab_size)
        use_fast_attention(model, torch.bfloat16, torch.device("cpu"))  # fp32 steps skip it
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        idx = torch.randint(vocab_size, (config.batch_size, config.block_size))  # (B, T)

        def step(dtype: torch.dtype | None) -> float:
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
                logits = model(idx)  # (B, T, V)
            loss = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, vocab_size), idx.reshape(-1)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return time.perf_counter() - started

        for dtype in (None, torch.bfloat16):  # first calls pay one-off set-up
            step(dtype)
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        deadline = time.perf_counter() + seconds
        while len(times["fp32"]) < 3 or (
            time.perf_counter() < deadline and len(times["fp32"]) < 20
        ):
            times["fp32"].append(step(None))
            times["bf16"].append(step(torch.bfloat16))
    return statistics.median(times["fp32"]) / statistics.median(times["bf16"])


def describe(choice: PrecisionChoice) -> dict:
    """A choice as plain values (for events and JSON)."""
    values = asdict(choice)
    values["dtype"] = choice.name
    return values
