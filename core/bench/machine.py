"""What the machine can do: peak memory of this process and the matmul peak in GFLOP/s."""

from __future__ import annotations

import sys
import time

import torch

from core.bench.timing import synchronize
from core.device import resolve_device

PEAK_MATMUL_SIZE = 2048


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
    synchronize(device)
    flops = 2 * size**3
    best = 0.0
    for _ in range(5):
        count = 0
        started = time.perf_counter()
        while True:
            torch.matmul(a, b, out=out)
            count += 1
            synchronize(device)
            elapsed = time.perf_counter() - started
            if elapsed >= seconds / 5:
                break
        best = max(best, flops * count / elapsed / 1e9)
    return best


def read_bandwidth_gbs(
    megabytes: int = 512, seconds: float = 1.0, device: torch.device | str | None = None
) -> float:
    """The best GB/s of summing a buffer far larger than any cache: what streaming weights
    from memory can reach. The buffer is written first, so no page is the shared zero page."""
    device = resolve_device(device)
    buffer = torch.ones(megabytes * 2**20 // 4, device=device)  # (N,)
    buffer.sum()
    synchronize(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        buffer.sum()
        synchronize(device)
        best = max(best, buffer.numel() * 4 / (time.perf_counter() - started) / 1e9)
        if time.perf_counter() >= deadline:
            return best
