"""Data parallelism for the proxy model: DDP replicates small models, FSDP2 shards large ones.

DDP keeps a full copy of weights and optimizer state on every rank and all-reduces gradients;
FSDP2 (`torch.distributed.fsdp.fully_shard`, one unit per transformer block plus the root) keeps
1/world of them per rank and gathers a block's weights just before it runs. Both average gradients
over ranks, so with the loss of each micro-batch divided by the number of micro-batches per rank the
update is the one a single process computes on the whole global batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal, cast

import torch
from torch import nn

from rephraser.train.distributed import Ranks

Parallel = Literal["auto", "ddp", "fsdp"]
# auto shards from this size up (the 500m and 1.7b presets): below it a full replica per GPU is
# cheaper than gathering weights every step.
FSDP_FROM_PARAMETERS = 300_000_000


def choose(mode: Parallel, n_parameters: int, ranks: Ranks) -> str:
    """"none" for a job of one, else "ddp" or "fsdp"."""
    if not ranks.distributed:
        return "none"
    if mode == "auto":
        return "fsdp" if n_parameters >= FSDP_FROM_PARAMETERS else "ddp"
    return mode


def wrap(model: nn.Module, kind: str, ranks: Ranks, bf16: bool, compile: bool) -> tuple[nn.Module, Callable[..., Any]]:
    """(the wrapped module, what the training step calls). Both are the model itself for "none"."""
    if kind == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(ranks.device.split(":")[0], (ranks.world,))
        # bf16 weights for compute and the all-gathers, fp32 gradient reduction and master weights.
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else MixedPrecisionPolicy()
        for block in cast(nn.ModuleList, model.layers):
            if compile:
                block.compile()  # per block, before sharding (graph breaks at FSDP hooks otherwise)
            fully_shard(block, mesh=mesh, mp_policy=mp)
        fully_shard(model, mesh=mesh, mp_policy=mp)
        return model, model
    wrapped = model
    if kind == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [ranks.local_rank] if ranks.device.startswith("cuda") else None
        # The rotary tables are buffers derived from the config, identical on every rank: no per-step sync
        # (the flag's name changed in torch 2.13).
        no_sync: dict[str, Any] = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})
        wrapped = DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True, **no_sync)
    return wrapped, (torch.compile(wrapped) if compile else wrapped)


def grad_sync(wrapped: nn.Module, kind: str, sync: bool) -> AbstractContextManager[Any]:
    """Skip the gradient all-reduce / reduce-scatter on all but the last micro-batch of a step."""
    if kind == "ddp" and not sync:
        return cast(AbstractContextManager[Any], cast(Any, wrapped).no_sync())  # DDP's
    if kind == "fsdp":
        cast(Any, wrapped).set_requires_gradient_sync(sync)  # FSDP2's
    return nullcontext()


def full_state_dict(model: nn.Module, kind: str, main: bool) -> dict[str, torch.Tensor] | None:
    """The whole model's weights on CPU on rank 0 (None on the other ranks). Collective under FSDP."""
    if kind == "none":
        return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return cast(dict[str, torch.Tensor], state) if main else None
