"""Which manifests of a shard count: epochs, fences and versions (the fencing of writers).

A shard's writer holds its lease (writer_leases.py); the lease's generation number is the writer's
**epoch**. Every name a writer creates carries its epoch, and the data files also a random token, so
no writer ever replaces a file that another writer (or its own earlier commit) wrote:

    manifests/<tag>/part-00003-e000002-v00.json       part 3, written by epoch 2, version 0
    manifests/<tag>/fence-e000002.json                 what epoch 2 accepted of the epochs before it
    data/<prompt>/<tag>-part-00003-e000002-1f9c2a.parquet

The **fence** makes a writer that lost its lease harmless even when it wakes up in the middle of a
commit (a frozen VM, SIGSTOP, an NFS stall): before its first commit, the writer of epoch E lists the
manifests, keeps the ones that count, and writes that list as `fence-eE.json`. Readers then take the
highest fence F and accept exactly the manifests it lists plus those of epoch F itself. Whatever an
older writer adds later (files, manifests, new versions) is named by no accepted manifest, so no
reader takes it, and the next start deletes it. A newer writer writes its fence before any commit of
its own, so a manifest of an epoch above the highest fence cannot be genuine and is ignored too.
`Checkpoint.commit` also looks for a higher fence right before writing its manifest (an epoch
check on the output store itself, beside the lease check).

**Versions**: replacing a retried dead letter rewrites an older part without some units; that is a
new version of the part (new file names, manifest version + 1), never an overwrite. Readers take the
highest accepted version of each part; older versions are deleted at the next start.

Folders written before fencing (`part-00003.json`, `<tag>-part-00003.parquet`) read as epoch 0.
This module only names and selects; checkpoint.py writes, run_folder.py reads.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from rephraser import storage
from rephraser.errors import ResumeError

_MANIFEST = re.compile(r"^part-(\d+)(?:-e(\d+)-v(\d+))?\.json$")
_FENCE = re.compile(r"^fence-e(\d+)\.json$")
_DATA_EPOCH = re.compile(r"-part-\d+-e(\d+)-[0-9a-f]+\.parquet$")


@dataclass(frozen=True, order=True)
class ManifestName:
    part: int
    version: int
    epoch: int
    name: str = field(compare=False)


def manifest_name(part: int, epoch: int, version: int = 0) -> str:
    return f"part-{part:05d}-e{epoch:06d}-v{version:02d}.json"


def fence_name(epoch: int) -> str:
    return f"fence-e{epoch:06d}.json"


def data_file_name(tag: str, part: int, epoch: int, token: str | None = None) -> str:
    """A part's file name in data/, rejected/ or dead_letter/<prompt>/: unique per writer and commit."""
    return f"{tag}-part-{part:05d}-e{epoch:06d}-{token or new_token()}.parquet"


def new_token() -> str:
    return secrets.token_hex(3)


def parse_manifest(name: str) -> ManifestName | None:
    m = _MANIFEST.match(name)
    if not m:
        return None
    return ManifestName(part=int(m[1]), version=int(m[3] or 0), epoch=int(m[2] or 0), name=name)


def file_epoch(name: str) -> int:
    """The epoch in a data file's name (0 for names from before fencing)."""
    m = _DATA_EPOCH.search(name)
    return int(m[1]) if m else 0


def fence_epochs(names: list[str]) -> list[int]:
    return sorted(int(m[1]) for n in names if (m := _FENCE.match(n)))


@dataclass
class Selection:
    """The manifests of one shard folder, sorted into what counts and what does not."""

    current: list[ManifestName]  # the accepted, highest version of every committed part
    superseded: list[ManifestName]  # accepted older versions (a retire was interrupted before removing them)
    fenced_out: list[ManifestName]  # written by a writer that had lost its lease, or not yet fenced
    fence: int  # the highest fence's epoch (0: none, a folder from before fencing)
    fences: list[int]  # every fence present

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.current]


def select(folder: storage.Location) -> Selection:
    """Read the fence of a shard's manifests folder and sort its manifests (one listing, one read)."""
    names = storage.listdir(folder)
    return select_from(names, lambda n: storage.read_bytes(folder / n), where=str(folder))


def select_from(names: list[str], read: Callable[[str], str | bytes], *, where: str = "") -> Selection:
    fences = fence_epochs(names)
    manifests = sorted(m for n in names if (m := parse_manifest(n)))
    top = fences[-1] if fences else 0
    if top:
        try:
            allowed = set(json.loads(read(fence_name(top)))["accepted"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResumeError(f"fence {where}/{fence_name(top)} is unreadable ({e}); the output folder was "
                              "modified by hand") from None
        accepted = [m for m in manifests if m.name in allowed or m.epoch == top]
    else:  # a folder from before fencing
        accepted = manifests
    ok = set(accepted)
    latest: dict[int, ManifestName] = {}
    for m in accepted:
        if m.part not in latest or m > latest[m.part]:
            latest[m.part] = m
    current = sorted(latest.values())
    superseded = [m for m in accepted if latest[m.part] != m]
    fenced_out = [m for m in manifests if m not in ok]
    return Selection(current=current, superseded=superseded, fenced_out=fenced_out, fence=top, fences=fences)
