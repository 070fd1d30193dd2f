"""What every bench report shares: the consoles, the machine and model shape, a busy warning."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from rich.console import Console

from core import Config, set_threads

SCHEMA = 1  # of every bench's JSON; raised when a key changes meaning


def progress_printer() -> Callable[[str], None]:
    """Print progress lines, dimmed, to stderr (stdout is kept for the report)."""
    console = Console(stderr=True)
    return lambda message: console.print(f"[dim]{message}[/]")


def stdout_console() -> Console:
    console = Console()
    if not console.is_terminal:
        console.width = 120  # files and pipes keep a table's rows on one line each
    return console


def machine_info(device) -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "torch": torch_version(),
        "device": str(device),
        "threads": set_threads(None),
        "cpu_count": os.cpu_count(),
        "load_average": load,
    }


def model_shape(config: Config) -> dict:
    """The config's shape, as the train and generate reports give it."""
    return {
        "block_size": config.block_size,
        "embedding_dim": config.embedding_dim,
        "num_heads": config.num_heads,
        "num_layers": config.num_layers,
        "hidden_dim": config.hidden_dim,
    }


def print_busy_warning(console: Console, machine: dict) -> None:
    load, cores = machine["load_average"], machine["cpu_count"] or 1
    if load is not None and load >= cores / 2:
        console.print(
            f"[yellow]the machine was busy before this run (load {load:.2f} on {cores} cores): "
            "other work slows these figures, most of all with several torch threads; rerun "
            "when it is idle[/]"
        )


def torch_version() -> str:
    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"
