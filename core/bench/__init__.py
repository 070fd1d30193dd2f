"""Speed measurements for `minigpt bench`: matmul peak, training steps and decode latency.

Everything returned is plain values; the front end formats them. Timings are wall-clock and
noisy on a shared machine, so comparisons interleave their sides within one process.
"""

from core.bench.generation import (
    DecodeRun,
    GenerationResult,
    PositionLatency,
    bench_generation,
    default_positions,
    untrained_model,
)
from core.bench.machine import PEAK_MATMUL_SIZE, matmul_peak_gflops, peak_memory_mb
from core.bench.quality import (
    QualityPoint,
    QualityResult,
    ReferenceRun,
    bench_time_to_quality,
)
from core.bench.timing import percentile
from core.bench.training import TrainResult, TrainVariant, bench_training

__all__ = [
    "PEAK_MATMUL_SIZE",
    "DecodeRun",
    "GenerationResult",
    "PositionLatency",
    "QualityPoint",
    "QualityResult",
    "ReferenceRun",
    "TrainResult",
    "TrainVariant",
    "bench_generation",
    "bench_time_to_quality",
    "bench_training",
    "default_positions",
    "matmul_peak_gflops",
    "peak_memory_mb",
    "percentile",
    "untrained_model",
]
