"""Resumable training checkpoints that do not depend on the number of ranks that wrote them.

    checkpoints/step-NNNNNNNN/
        state.json      step, the config fields a resumption must match, the world size that wrote it
        config.json     the ProxyConfig            (so `load_checkpoint` opens this folder too)
        tokenizer.json  the tokenizer of the data
        dcp/            model weights + AdamW state in torch.distributed.checkpoint form: tensors are
                        stored by parameter name with their global shapes, so a folder written by 64
                        FSDP ranks loads on 8 ranks, on DDP, or in one process

Every rank writes its own shard files into `step-N.tmp/dcp/`; rank 0 then writes the small files and
renames the folder into place, so a checkpoint appears complete or not at all (a kill -9 mid-save
leaves only a `.tmp` folder, removed at the next start).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from torch import nn
from torch.optim import Optimizer

from rephraser.atomic import atomic_write_bytes, atomic_write_json, fsync_dir
from rephraser.train.distributed import Ranks, barrier

DCP_DIR = "dcp"


def checkpoints(out: Path) -> list[Path]:
    """Committed checkpoints, oldest first."""
    return sorted(p for p in (out / "checkpoints").glob("step-*[0-9]") if (p / "state.json").is_file())


def read_state(ckpt: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    return state


def remove_partial(out: Path) -> None:
    """Folders a killed save left behind (rank 0, before anything else is written)."""
    for tmp in (out / "checkpoints").glob("step-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)


def save(ranks: Ranks, out: Path, step: int, model: nn.Module, opt: Optimizer, meta: dict[str, Any],
         small_files: dict[str, bytes], keep: int, pinned: AbstractSet[int] = frozenset()) -> Path:
    """Write checkpoints/step-N (collective: every rank calls it). `meta` goes to state.json,
    `small_files` (name -> bytes: config.json, tokenizer.json) are written by rank 0. Of the others, the
    newest `keep` stay, plus those at the `pinned` steps."""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    from torch.distributed.checkpoint.state_dict_saver import save as dcp_save

    final = out / "checkpoints" / f"step-{step:08d}"
    tmp = final.with_name(final.name + ".tmp")
    if ranks.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(ranks)
    model_sd, optim_sd = get_state_dict(model, opt)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        dcp_save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp / DCP_DIR), no_dist=not ranks.distributed)
    barrier(ranks)  # every rank's shard is on disk before rank 0 commits the folder
    if ranks.main:
        for name, data in small_files.items():
            atomic_write_bytes(tmp / name, data)
        atomic_write_json(tmp / "state.json", {**meta, "step": step, "world_size": ranks.world})
        shutil.rmtree(final, ignore_errors=True)  # a rerun after a crash between rename and prune
        tmp.rename(final)
        fsync_dir(final.parent)
        for old in [c for c in checkpoints(out) if int(c.name.split("-")[1]) not in pinned][:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(ranks)
    return final


def load(ranks: Ranks, ckpt: Path, model: nn.Module, opt: Optimizer) -> None:
    """Load model + optimizer state from a checkpoint written by any number of ranks (collective)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.checkpoint.state_dict_loader import load as dcp_load

    model_sd, optim_sd = get_state_dict(model, opt)
    state: dict[str, Any] = {"model": model_sd, "optim": optim_sd}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        dcp_load(state, checkpoint_id=str(ckpt / DCP_DIR), no_dist=not ranks.distributed)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])


def load_weights(ckpt: Path, model: nn.Module) -> None:
    """Model weights only, into a plain (unwrapped) model, in this process alone."""
    from torch.distributed.checkpoint.state_dict_loader import load as dcp_load

    state = {"model": model.state_dict()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        dcp_load(state, checkpoint_id=str(ckpt / DCP_DIR), no_dist=True)
    model.load_state_dict(state["model"])
