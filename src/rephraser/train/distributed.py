"""Where this process sits in a torchrun job, and the few collectives proxy training needs.

torchrun (alone, or started by `srun` on every node of a Slurm job) describes the job in the
environment: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and the rendezvous address. Without them
(a plain `rephraser train`) the process is a job of one, every collective below is a no-op, and the
training loop keeps a single code path. gloo carries the collectives on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist

from rephraser.errors import ConfigError, RephraserError

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: str = "cpu"  # "cpu" or "cuda:<local rank>"
    owns_group: bool = False  # this process initialised the process group, so it tears it down

    @property
    def main(self) -> bool:
        """Rank 0: the only rank that writes shared files (curve, summary, commits)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def torchrun_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int, int] | None:
    """(rank, world, local_rank, local_world) when launched by torchrun, else None."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", rank))
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        raise ConfigError("RANK / WORLD_SIZE / LOCAL_RANK in the environment are not integers") from None
    if not 0 <= rank < world:
        raise ConfigError(f"RANK {rank} is outside WORLD_SIZE {world}")
    return rank, world, local_rank, local_world


def start(device_choice: str) -> Ranks:
    """Pick this rank's device and join the process group when launched as one of several ranks."""
    found = torchrun_env()
    rank, world, local_rank, local_world = found or (0, 1, 0, 1)
    if device_choice == "auto":
        device_choice = "cuda" if torch.cuda.is_available() else "cpu"
    if device_choice == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device=cuda requested but no CUDA device is available")
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible on this node")
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    else:
        device = "cpu"
    owns = False
    if world > 1 and not dist.is_initialized():
        backend = "gloo" if device == "cpu" else "nccl"
        options: dict[str, Any] = {} if device == "cpu" else {"device_id": torch.device(device)}
        dist.init_process_group(backend, store=_attempt_store(rank, world), rank=rank, world_size=world, **options)
        owns = True
    return Ranks(rank, world, local_rank, local_world, device, owns)


def _attempt_store(rank: int, world: int) -> Any:  # a torch.distributed Store (not in its typed exports)
    """The rendezvous store of this torchrun attempt. torchrun's agent keeps one store for the whole
    job, so after an elastic restart the new workers would find the dead workers' gloo addresses still
    there and may connect to them (seen as "Connection refused" or a hang): a per-attempt key prefix
    gives every restart a clean namespace."""
    from torch.distributed.rendezvous import rendezvous

    store, _, _ = next(rendezvous("env://", rank, world))
    prefix = f"rephraser/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    return dist.PrefixStore(prefix, store)  # type: ignore[attr-defined]  # exported only where distributed is built


def stop(ranks: Ranks) -> None:
    if ranks.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def sum_all(ranks: Ranks, value: torch.Tensor) -> torch.Tensor:
    """The sum of `value` over all ranks (a new tensor on every rank)."""
    out = value.detach().clone()
    if ranks.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def on_main(ranks: Ranks, fn: Callable[[], T]) -> T:
    """Run fn on rank 0 only and hand its result to every rank; an error it raises is raised on every
    rank (same type and message), so no rank waits forever in the next collective."""
    if not ranks.distributed:
        return fn()
    payload: list[Any] = [None]
    if ranks.main:
        try:
            payload[0] = ("ok", fn())
        except RephraserError as e:
            payload[0] = ("error", type(e), str(e))
        except Exception as e:  # noqa: BLE001 - re-raised below on every rank
            payload[0] = ("error", RuntimeError, f"rank 0: {type(e).__name__}: {e}")
    dist.broadcast_object_list(payload, src=0)
    kind, *rest = payload[0]
    if kind == "error":
        err_type, message = rest
        raise err_type(message)
    return cast(T, rest[0])

