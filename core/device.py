"""Device choice, written once for the CLI and the studio."""

from __future__ import annotations

import torch

from core.config import MAX_THREADS
from core.errors import UserError


def default_device() -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """A torch.device from None/"auto"/"cpu"/"cuda"/"mps", or a ValueError saying what to use."""
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return default_device()
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UserError("CUDA is not available on this machine; use --device cpu or auto")
        return torch.device("cuda")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError("MPS is not available on this machine; use --device cpu or auto")
        return torch.device("mps")
    raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or mps")


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None keeps the default); returns the count in use."""
    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise UserError(f"threads must be from 1 to {MAX_THREADS}, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
