"""Shared fixtures: seeded torch, the tiny preset, a short inline corpus."""

from __future__ import annotations

import multiprocessing.resource_tracker
import os
import tempfile
from dataclasses import replace

import pytest
import torch

from core import PRESETS, Config

# the precision calibration's cache: never the user's, shared by the suite's subprocesses
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="minigpt-test-cache-")

# Textual replaces stderr; the tracker must exist before any app spawns a process
multiprocessing.resource_tracker.ensure_running()

# tiny models gain nothing from a second thread, and two threads stall badly whenever anything
# else holds a core (a studio's training child, a parallel job)
torch.set_num_threads(1)

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
) * 8


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)


@pytest.fixture
def text() -> str:
    return TEXT


@pytest.fixture
def tiny_config() -> Config:
    return replace(PRESETS["tiny"], max_steps=30, eval_interval=15)


# The quick tier (`pytest -m "not slow"`) leaves out what starts child processes, drives the
# studio through Pilot, or builds the package: the model, sampling, checkpoints and the CLI's
# errors stay in it.
SLOW_PATHS = (
    "tests/tui/studio/",
    "tests/core/test_process.py",
    "tests/core/test_distributed.py",
    "tests/core/test_bench.py",
    "tests/tui/cli/test_bench.py",
    "tests/tui/cli/test_train_nproc.py",
    "tests/tui/cli/test_experiment.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
