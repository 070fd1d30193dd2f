"""Data-parallel training with torch.distributed: joining the ranks torchrun started, each rank's
own data stream, every rank stopping and saving at the same step, and launching under torchrun.

A run of N ranks is N copies of one `TrainingSession`, their gradients averaged by
DistributedDataParallel; rank 0 alone logs, evaluates, samples, saves and locks the run folder.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import signal
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from core.checkpoint.manifest import rng_names
from core.device import resolve_device
from core.errors import UserError

# how long a rank waits for the others to join, and at any later collective (torch's own
# default is 30 minutes): a rank that never comes must not hold the rest for half an hour
RENDEZVOUS_TIMEOUT = timedelta(minutes=10)
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies

# rank r's seeds sit r strides above rank 0's, clear of seed + 1 (rank 0's data) and seed + 2
# (the fixed validation batches); the CPU generator keeps only a seed's low 32 bits, and r
# strides stay distinct there for any world below four million ranks
SEED_STRIDE = 1009


@dataclass(frozen=True)
class RankInfo:
    """This process's place in a run: its rank among world_size, its GPU on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # the ranks on this machine

    @property
    def one_machine(self) -> bool:
        """Every rank runs on this machine (as `minigpt train --nproc` starts them)."""
        return self.local_world_size == self.world_size

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, evaluates, samples, saves and holds the folder's lock."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current_ranks() -> RankInfo:
    """The process group this process has joined, or a single rank when it has joined none."""
    if not (dist.is_available() and dist.is_initialized()):
        return RankInfo()
    world_size = dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    return RankInfo(dist.get_rank(), world_size, local_rank, local_world_size)


def setup_ranks(device: str | None = None) -> RankInfo:
    """Join the process group torchrun describes in its environment (RANK, WORLD_SIZE,
    MASTER_ADDR, ...): nccl on CUDA, gloo on the CPU. Outside torchrun, or in a world of one
    process, nothing is joined and the run is the plain single-process one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return current_ranks()
    _die_with_parent()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        if resolve_device(device).type == "cuda":
            torch.cuda.set_device(local_rank)
            dist.init_process_group(
                "nccl", device_id=torch.device("cuda", local_rank), timeout=RENDEZVOUS_TIMEOUT
            )
        else:
            dist.init_process_group("gloo", timeout=RENDEZVOUS_TIMEOUT)
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"cannot join the other training processes ({first}); check --rdzv-endpoint and "
            "that every machine can reach it"
        ) from None
    return current_ranks()


def _die_with_parent() -> None:
    """On Linux, have this rank receive SIGTERM (a stop that saves) when the process that
    started it dies: a killed `minigpt train --nproc` launcher never leaves ranks training on,
    or waiting in rendezvous, without it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request above was made
        os.kill(os.getpid(), signal.SIGTERM)


def teardown_ranks() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: RankInfo) -> None:
    """Wait until every rank is here."""
    if ranks.distributed:
        dist.barrier()


def rank_device(device: torch.device, ranks: RankInfo) -> torch.device:
    """The device this rank trains on: its own GPU (LOCAL_RANK) when several share a machine."""
    if device.type == "cuda" and ranks.distributed:
        return torch.device("cuda", ranks.local_rank)
    return device


Value = TypeVar("Value")


def from_main(value: Value, ranks: RankInfo) -> Value:
    """Rank 0's `value` on every rank (a choice that must be the same everywhere)."""
    if not ranks.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --- data streams -------------------------------------------------------------------------
def data_generator(seed: int, ranks: RankInfo) -> torch.Generator:
    """This rank's stream of batch positions: seed + 1 on rank 0, as in a single process."""
    return torch.Generator().manual_seed(seed + 1 + SEED_STRIDE * ranks.rank)


def seed_dropout(seed: int, ranks: RankInfo) -> None:
    """Give ranks above 0 their own dropout masks; rank 0 keeps the single-process stream."""
    if ranks.rank > 0:
        torch.manual_seed(seed + SEED_STRIDE * ranks.rank)


Stream = tuple[torch.Tensor, torch.Tensor]  # one rank's (dropout, batch) RNG states, (S,) each


def gather_rng(
    ranks: RankInfo, generator: torch.Generator, idle: dict[int, Stream]
) -> dict[str, torch.Tensor]:
    """Every stream's RNG states under their checkpoint names: each rank's, gathered from all
    ranks, then the `idle` streams that no rank of this world continues."""
    local = (torch.get_rng_state(), generator.get_state())
    streams = {0: local}
    if ranks.distributed:
        sent = torch.cat(local).to(_collective_device())  # (2S,)
        received = [torch.empty_like(sent) for _ in range(ranks.world_size)]
        dist.all_gather(received, sent)
        # each state a tensor of its own: a generator given a view of a larger one crashes
        streams = {
            r: tuple(part.clone() for part in state.cpu().chunk(2))
            for r, state in enumerate(received)
        }
    streams.update({r: stream for r, stream in idle.items() if r >= ranks.world_size})
    states = {}
    for rank in range(len(streams)):
        torch_name, data_name = rng_names(rank)
        states[torch_name], states[data_name] = streams[rank]
    return states


def restore_rng(
    states: dict[str, torch.Tensor], ranks: RankInfo, generator: torch.Generator
) -> dict[int, Stream]:
    """Continue this rank's stream from a checkpoint's RNG states (a rank the checkpoint never
    had keeps its fresh seed); returns the saved streams no rank of this world continues, to
    be written back at the next save."""
    streams: dict[int, Stream] = {}
    while True:
        torch_name, data_name = rng_names(len(streams))
        if data_name not in states:
            break
        streams[len(streams)] = (states[torch_name], states[data_name])
    mine = streams.get(ranks.rank)
    if mine is not None:
        torch.set_rng_state(mine[0])
        generator.set_state(mine[1])
    return {rank: stream for rank, stream in streams.items() if rank >= ranks.world_size}


# --- the model and the step ---------------------------------------------------------------
def wrap_model(
    model: torch.nn.Module, ranks: RankInfo, device: torch.device, standard: bool
) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel, or itself in a single process."""
    if not ranks.distributed:
        return model
    # the only buffer is the causal mask, the same on every rank: never sync it per forward
    # (torch 2.13 renamed the switch; older versions know only broadcast_buffers)
    renamed = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    quiet = {"forward_sync_buffers" if renamed else "broadcast_buffers": False}
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=not standard,  # a design switch may leave a module idle
        **quiet,
    )


def gradient_sync(model: torch.nn.Module, sync: bool) -> AbstractContextManager:
    """Where DDP averages gradients: only on a step's last micro-batch (`sync`)."""
    if isinstance(model, DistributedDataParallel) and not sync:
        return model.no_sync()
    return nullcontext()


class StepAgreement:
    """Every rank's loss and its stop and save requests, summed in one all-reduce per logged
    step: all ranks see the mean loss, and stop or save at the same step whichever was asked."""

    def __init__(self, ranks: RankInfo) -> None:
        self.world_size = ranks.world_size
        self.stop = False
        self.save = False

    def combine(self, loss: torch.Tensor, stop: bool, save: bool) -> float:
        """The mean of every rank's `loss`; sets `stop` and `save` if any rank asked."""
        flags = torch.tensor([float(stop), float(save)], device=loss.device)  # (2,)
        values = torch.cat([loss.detach().float().reshape(1), flags])  # (3,)
        dist.all_reduce(values)
        total, stops, saves = values.tolist()
        self.stop = self.stop or stops > 0
        self.save = self.save or saves > 0
        return total / self.world_size


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# --- launching ----------------------------------------------------------------------------
def launch_ranks(module: str, args: list[str], nproc: int) -> int:
    """Run `python -m module args` as `nproc` ranks on this machine under torchrun
    (torch.distributed.run, standalone rendezvous); returns the exit code: rank 0's on a
    failure, 128 + the signal when torchrun was told to stop (it passes the signal on)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc-per-node={nproc}", "-m", module, *args])
    except ChildFailedError as error:
        failures = error.failures
        first = failures.get(min(failures)) if failures else None
        return first.exitcode if first is not None and first.exitcode > 0 else 1
    except SignalException as error:
        return 128 + int(error.sigval)
    return 0
