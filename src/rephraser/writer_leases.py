"""Who may write an output folder: one process per shard, and nobody else while it is prepared or wiped.
(Ground floor, beside lease.py and storage/: the run folder and the runner both use it.)

Every `rephraser run` (one shard of a run; a plain run is shard 0 of 1) holds the lease of its shard
(`OUT/leases/<tag>/`) from before it reads the manifests until it exits, so start-up clean-up only
ever deletes files of a shard no live process owns. Folder-wide changes (writing run.json and
config.yaml, `--overwrite`) additionally take the short-lived folder lease (`OUT/leases/_folder/`),
and `--overwrite` refuses while any other shard has a live writer. Order: shard lease first (a
requeued task may wait for it), then the folder lease (held for milliseconds), so tasks waiting
for their own shard never block the other shards of a Slurm array from starting.

A refused start exits with code 75 (EX_TEMPFAIL) and one line naming the holder (host, pid, start
time): a job script may simply retry later. A lease left by a killed process is taken over at once
on the same machine, and after `lease_ttl_s` without heartbeat from another machine.

One-shot writers of a whole folder (`mix`, `tokenize`) and `push` (its staging folder inside the run
folder) hold `sole_writer` for their whole run, by the same rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rephraser import manifests, storage
from rephraser.errors import WriteError
from rephraser.lease import LEASE_TTL_S, Holder, Lease, LeaseStore, current_holder
from rephraser.storage.conditional import lease_store

LEASES_DIR = "leases"
FOLDER_LEASE = "_folder"
FOLDER_WAIT_S = 120.0  # the folder lease is held for milliseconds (minutes while --overwrite deletes)


def _store(out: storage.PathLike) -> LeaseStore:
    return lease_store(storage.as_location(out) / LEASES_DIR)


def _acquire(lease: Lease, wait_s: float) -> Lease:
    try:
        return lease.acquire(wait_s=wait_s)
    except OSError as e:  # full, read-only or unwritable output folder: one line naming it
        raise WriteError(f"cannot take the write lease in {lease.what}: {e.strerror or e}") from None


@contextlib.contextmanager
def shard_writer(out: storage.PathLike, tag: str, *, wait_s: float = 0.0,
                 ttl_s: float = LEASE_TTL_S) -> Iterator[Lease]:
    """Hold the lease of shard `tag` of `out` for the block; LeaseHeld (exit 75) if a live process has it."""
    # The generation is the writer's epoch (manifests.py): above every fence, even if leases/ was deleted.
    fences = manifests.fence_epochs(storage.listdir(storage.as_location(out) / "manifests" / tag))
    lease = Lease(_store(out), tag, purpose=f"rephraser run, shard {tag}", what=f"{out} (shard {tag})",
                  ttl_s=ttl_s, min_gen=max(fences, default=0) + 1)
    _acquire(lease, wait_s)
    try:
        yield lease
    finally:
        lease.release()


@contextlib.contextmanager
def folder_change(out: storage.PathLike, *, ttl_s: float = LEASE_TTL_S) -> Iterator[Lease]:
    """Hold the folder lease (prepare, overwrite) for the block, waiting a while for another holder."""
    lease = Lease(_store(out), FOLDER_LEASE, purpose="rephraser run, preparing the output folder",
                  what=f"output folder {out}", ttl_s=ttl_s)
    _acquire(lease, FOLDER_WAIT_S)
    try:
        yield lease
    finally:
        lease.release()


@contextlib.contextmanager
def sole_writer(out: storage.PathLike, purpose: str, *, name: str = FOLDER_LEASE,
                ttl_s: float = LEASE_TTL_S) -> Iterator[Lease]:
    """Hold lease `name` of `out` for a whole command that writes the folder (mix, tokenize, push);
    LeaseHeld (exit 75) naming the holder if another live process has it."""
    lease = Lease(_store(out), name, purpose=purpose, what=f"{out}", ttl_s=ttl_s)
    _acquire(lease, 0.0)
    try:
        yield lease
    finally:
        lease.release()


def live_shard_writers(out: storage.PathLike, *, besides: str | None = None) -> dict[str, Holder]:
    """Shards of `out` that a live process is writing now (other than `besides`), with their holders."""
    store = _store(out)
    live = {}
    for name in storage.listdir(storage.as_location(out) / LEASES_DIR):
        if name in (FOLDER_LEASE, besides) or name.startswith("."):
            continue
        holder = current_holder(store, name)
        if holder is not None:
            live[name] = holder
    return live
