"""Data-parallel training on two CPU processes (gloo): the same losses as one process with the
same global batch, rank 0 alone writing, the ranks stopping together, checkpoints that sample and
resume with one rank or two."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from core import (
    PRESETS,
    CheckpointError,
    GenerationSession,
    SamplingConfig,
    TrainingSession,
    load_checkpoint,
    setup_ranks,
    teardown_ranks,
)
from core.child.distributed import RankInfo, data_generator
from tests.conftest import TEXT

WORLD = 2
SPAWN_TIMEOUT = 150  # seconds for both ranks to start (~3 s each), train and exit
# two ranks of batch 4 against one process of batch 8: the global batch of tiny
CONFIG = replace(PRESETS["tiny"], batch_size=4, max_steps=8, eval_interval=4, eval_batches=2)
# DDP averages the two ranks' gradients (each a mean of four sequences) where one process takes
# the mean of all eight at once: the same sum in another order, about 1e-7 relative in fp32.
# Over eight AdamW steps the losses differed by at most 4.8e-7 (two ulps at 3.5); 1e-5 leaves
# room for other CPUs' kernels, and another batch moves the first loss by ~1e-2 (below)
LOSS_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(rank: int, port: int, base: str) -> None:
    """One rank: a straight run, the same run stopped at step 4 and resumed, and a long run
    that rank 1 alone is asked to stop. Results go to base/rank-R.json."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    root = Path(base)
    try:
        setup_ranks("cpu")
    except Exception as error:  # noqa: BLE001 (the parent skips, naming the reason)
        (root / f"rank-{rank}.json").write_text(json.dumps({"no_gloo": str(error)}))
        return

    def out(name: str) -> Path:
        # ranks above 0 get folders of their own that must never appear
        return root / (name if rank == 0 else f"{name}-rank{rank}")

    straight = [m.loss for m in TrainingSession(CONFIG, TEXT, "cpu", out("straight")).steps()]
    halves = replace(CONFIG, batch_size=CONFIG.batch_size // 2, grad_accum=2)
    accumulated = [m.loss for m in TrainingSession(halves, TEXT, "cpu", out("halves")).steps()]
    first = TrainingSession(replace(CONFIG, max_steps=4), TEXT, "cpu", out("split"))
    split = [m.loss for m in first.steps()]
    # every rank reads the checkpoint it resumes (rank 0's folder); only rank 0 writes
    resumed = TrainingSession.from_checkpoint(root / "split", TEXT, "cpu", max_steps=8)
    split += [m.loss for m in resumed.steps()]
    long = TrainingSession(replace(CONFIG, max_steps=10_000), TEXT, "cpu", out("stopped"))
    for metrics in long.steps():
        if rank == 1 and metrics.step == 3:
            long.stop()  # as rank 1's signal handler would
    result = {"straight": straight, "accumulated": accumulated, "split": split}
    result["stopped_at"] = long.step
    (root / f"rank-{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    teardown_ranks()


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Both ranks' results and the folder rank 0 wrote into (spawned once for the module)."""
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    base = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(
        _worker, args=(_free_port(), str(base)), nprocs=WORLD, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"two ranks did not finish within {SPAWN_TIMEOUT} s")
    results = [json.loads((base / f"rank-{r}.json").read_text()) for r in range(WORLD)]
    if "no_gloo" in results[0]:
        pytest.skip(f"gloo cannot start here: {results[0]['no_gloo']}")
    return base, results


def _copy_checkpoint(source: Path, target: Path) -> Path:
    """The checkpoint's files (not its lock) in a folder of their own."""
    target.mkdir(exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("."):
            (target / item.name).write_bytes(item.read_bytes())
    return target


class _TwoStreams:
    """The training split as one process sees it when its batch is both ranks' batches."""

    def __init__(self, data, seed: int) -> None:
        self.data = data
        self.generators = [data_generator(seed, RankInfo(rank, WORLD)) for rank in range(WORLD)]

    def batch(self, batch_size: int, generator, device) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.data.batch(batch_size // WORLD, g, device) for g in self.generators]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])  # (B, T) each


@pytest.fixture(scope="module")
def one_process_losses() -> list[float]:
    """One process, its batch of eight the two ranks' batches of four side by side."""
    session = TrainingSession(replace(CONFIG, batch_size=WORLD * CONFIG.batch_size), TEXT, "cpu")
    session.train_data = _TwoStreams(session.train_data, CONFIG.seed)
    return [metrics.loss for metrics in session.steps()]


@pytest.mark.parametrize("run", ["straight", "accumulated"])  # 2 ranks x 4, 2 ranks x 2 x 2
def test_two_ranks_match_one_process_with_the_same_global_batch(
    two_rank_runs, one_process_losses, run
) -> None:
    _, results = two_rank_runs
    torch.testing.assert_close(
        torch.tensor(results[0][run]),
        torch.tensor(one_process_losses),
        rtol=0,
        atol=LOSS_TOLERANCE,
    )


def test_gradient_accumulation_matches_the_whole_batch_in_one_process() -> None:
    whole = [m.loss for m in TrainingSession(CONFIG, TEXT, "cpu").steps()]
    halves = replace(CONFIG, batch_size=CONFIG.batch_size // 2, grad_accum=2)
    accumulated = [m.loss for m in TrainingSession(halves, TEXT, "cpu").steps()]
    torch.testing.assert_close(
        torch.tensor(accumulated), torch.tensor(whole), rtol=0, atol=LOSS_TOLERANCE
    )


def test_every_rank_sees_the_same_mean_loss(two_rank_runs) -> None:
    _, results = two_rank_runs
    assert results[0]["straight"] == results[1]["straight"]


def test_only_rank_zero_writes(two_rank_runs) -> None:
    base, _ = two_rank_runs
    assert not any(path.name.endswith("-rank1") for path in base.iterdir())
    logged = [json.loads(line) for line in (base / "straight" / "metrics.jsonl").open()]
    assert [line["step"] for line in logged] == list(range(1, 9))
    assert (base / "straight" / ".minigpt.lock").read_text().strip() != ""


def test_resume_of_two_ranks_with_two_ranks_is_exact(two_rank_runs) -> None:
    _, results = two_rank_runs
    assert results[0]["split"] == results[0]["straight"]


def test_a_stop_asked_of_one_rank_stops_both_and_rank_zero_saves(two_rank_runs) -> None:
    base, results = two_rank_runs
    stopped_at = results[0]["stopped_at"]
    assert stopped_at == results[1]["stopped_at"] and 3 <= stopped_at < 10_000
    assert load_checkpoint(base / "stopped").step == stopped_at


def test_checkpoint_of_two_ranks_holds_both_streams_and_samples(two_rank_runs) -> None:
    base, _ = two_rank_runs
    checkpoint = load_checkpoint(base / "straight")
    assert checkpoint.extra["world_size"] == 2 and checkpoint.extra["data_streams"] == 2
    assert {"torch", "data", "torch.1", "data.1"} == set(checkpoint.rng_state)
    session = GenerationSession.from_checkpoint(base / "straight", SamplingConfig())
    assert len(list(session.stream("", max_new_tokens=10))) == 10


def test_resume_of_two_ranks_with_one_rank_continues_and_keeps_the_other_stream(
    two_rank_runs, tmp_path
) -> None:
    base, _ = two_rank_runs
    losses = []
    for attempt in range(2):  # the same checkpoint and world: the same data order
        run = _copy_checkpoint(base / "straight", tmp_path / f"one-{attempt}")
        session = TrainingSession.from_checkpoint(run, TEXT, "cpu", max_steps=10)
        losses.append([metrics.loss for metrics in session.steps()])
    assert losses[0] == losses[1] and len(losses[0]) == 2
    before = load_checkpoint(base / "straight").rng_state
    after = load_checkpoint(tmp_path / "one-0").rng_state
    assert torch.equal(before["data.1"], after["data.1"])  # no rank drew from it
    assert not torch.equal(before["data"], after["data"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("data_streams", 3, "lacks rng.data.2 of its 6 random-number states"),
        ("world_size", 0, "extra.world_size must be an integer from 1 to 4096"),
    ],
)
def test_a_checkpoint_whose_streams_disagree_is_refused(
    two_rank_runs, tmp_path, field, value, message
) -> None:
    base, _ = two_rank_runs
    _copy_checkpoint(base / "straight", tmp_path)
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    manifest["extra"][field] = value
    (tmp_path / "checkpoint.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path)


def test_a_rank_whose_partners_never_come_gives_up_in_one_line() -> None:
    import subprocess
    import sys

    script = (
        "from datetime import timedelta\n"
        "import core.child.distributed as d\n"
        "d.RENDEZVOUS_TIMEOUT = timedelta(seconds=2)\n"
        "from core import UserError\n"
        "try:\n"
        "    d.setup_ranks('cpu')\n"
        "except UserError as error:\n"
        "    print(error)\n"
    )
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "RANK": "0",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cannot join the other training processes")
