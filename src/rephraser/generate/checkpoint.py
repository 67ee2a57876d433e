"""Exactly-once commits: Parquet parts + a manifest written last.

A commit writes every Parquet file of one part atomically (temp file, fsync, rename), then the part's
manifest the same way, then fsyncs the folders. The manifest is the commit marker: a part without a
manifest never happened, and its files are deleted on the next start. A restart reads only manifests
(never the outputs) to learn which (document, prompt) units are finished, so resume cost grows with
the number of parts, not with the bytes already written.

Each shard of a run (`tag` = "s00003-of-00010") has its own manifests folder and file names, so many
workers can commit into one output folder without coordination; each shard has one writer at a time
(writer_leases.py), and `guard` (the writer's lease check) runs before every manifest is written.
A writer that lost its lease while frozen cannot do harm either: every name carries the writer's
epoch (its lease generation) and each writer fences off the older epochs before it commits
(manifests.py), so a late file or manifest of the old writer is never taken by any reader.

Every manifest records each file's row count, size and SHA-256 (`file_checks`), which is what
`rephraser verify` checks; a committed file that went missing stops a resume with one line, or with
`repair` its units are dropped from the committed state and generated again.

The protocol needs no rename, so it holds on object stores too (rephraser.storage): there every file
is one PUT, visible whole or not at all, and the manifest PUT comes last.

Retrying dead letters (`rephraser run --retry-failed`): a unit's new rows are committed in a new part
whose manifest lists the unit under `retried`; that manifest is the atomic switch. The unit's old rows
are then removed from the older part (a new version of it, new files and manifest, without them). A
crash in between leaves the older part still naming the unit; the next start sees the `retried` mark,
finishes the removal, and the unit counts once either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.parquet as pq

from rephraser import manifests, storage
from rephraser.atomic import is_stale_temp
from rephraser.errors import ResumeError, WriteError
from rephraser.generate.stats import summarize
from rephraser.lease import LeaseLost
from rephraser.manifests import ManifestName
from rephraser.records import FATE_DIRS, Row, rows_to_table, table_to_rows
from rephraser.redact import scrub
from rephraser.run_folder import shard_tag as shard_tag  # re-exported: the runner names shards with it
from rephraser.storage import Location, Url

FATE_CODES = {"ok": "o", "rejected": "r", "failed": "f"}
FATE_STATUS = {folder: status for status, folder in FATE_DIRS.items()}
INPUT_PROMPT = "_input"  # pseudo-prompt of records rejected before any model call


@dataclass
class DoneState:
    """Everything a restart needs, read from manifests only."""

    units: dict[tuple[str, str], str] = field(default_factory=dict)  # (doc id, prompt) -> fates, one char per row
    part_of: dict[tuple[str, str], int] = field(default_factory=dict)  # dead-lettered unit -> part holding its rows
    text_hashes: dict[str, str] = field(default_factory=dict)  # doc id -> text hash at generation time
    next_part: int = 0
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)  # part -> its manifest's summary, for stats
    files: list[str] = field(default_factory=list)  # committed files (relative to the output folder)

    @property
    def parts(self) -> list[dict[str, Any]]:
        return list(self.summaries.values())


class Checkpoint:
    """One shard's commits. `epoch`: the writer's lease generation (manifests.py); without a lease (tests,
    single-process tools) the next number after every epoch seen. `repair`: a committed file that has
    gone missing drops its units from the committed state (so the run generates them again) instead of
    refusing to resume."""

    def __init__(self, out_dir: Location | str, tag: str, guard: Callable[[], None] | None = None,
                 epoch: int | None = None, repair: bool = False):
        self.out = storage.as_location(out_dir)
        self.tag = tag
        self.manifest_dir = self.out / "manifests" / tag
        self.guard = guard or (lambda: None)
        self.epoch = epoch
        self.repair = repair
        self.repaired: dict[str, int] = {}  # missing file -> units dropped for regeneration (--repair)
        self.state = DoneState()
        self._current: dict[int, ManifestName] = {}  # part -> the manifest that counts

    # ---- restart -------------------------------------------------------------------
    def load(self) -> DoneState:
        """Fence off older writers, read this shard's manifests, finish interrupted retries, delete
        uncommitted leftovers, return what is done."""
        storage.makedirs(self.manifest_dir)
        sel = manifests.select(self.manifest_dir)
        self._take_epoch(sel)
        self.state = DoneState()
        committed_files: set[str] = set()
        unfinished: dict[int, set[tuple[str, str]]] = {}  # older part -> units a later part retried
        paths = [self.manifest_dir / m.name for m in sel.current]
        try:
            contents = storage.read_many(paths)  # remote: fetched concurrently, not one round trip each
        except OSError as e:
            raise ResumeError(f"cannot read the manifests in {self.manifest_dir}: {e.strerror or e}") from None
        loaded = []
        for mf, raw in zip(paths, contents, strict=True):
            try:
                loaded.append(json.loads(raw))
            except ValueError as e:  # a manifest is written atomically, so this is outside damage
                raise ResumeError(f"manifest {mf} is unreadable ({e}); the output folder was modified by hand") from None
        self._current = {m.part: m for m in sel.current}
        by_part = {}
        for m in sorted(loaded, key=lambda m: int(m["part"])):  # later parts override retried units
            part = int(m["part"])
            by_part[part] = m
            retried = {(d, p) for d, p in m.get("retried", ())}
            committed_files.update(m["files"])
            units, part_of = self.state.units, self.state.part_of
            for doc_id, prompt, fates in m["units"]:
                unit = (doc_id, prompt)
                if unit in units:
                    if unit not in retried or unit not in part_of:  # exactly-once violated: say it loudly
                        raise ResumeError(f"unit ({doc_id!r}, {prompt!r}) is committed twice (second time in "
                                          f"{self._current[part].name})")
                    unfinished.setdefault(part_of[unit], set()).add(unit)
                units[unit] = fates
                if "f" in fates:  # only dead letters can be retried, so only they need their part
                    part_of[unit] = part
            self.state.text_hashes.update(m["text_hashes"])
            self.state.summaries[part] = m["summary"]
        self.state.next_part = max(self.state.summaries, default=-1) + 1
        if unfinished:
            for part, retried_units in sorted(unfinished.items()):
                self._retire(part, retried_units)
            return self.load()
        present = self._remove_uncommitted(committed_files, sel)
        lost = self._missing(by_part, present)
        if lost:
            for part, (lost_units, gone) in sorted(lost.items()):
                self._retire(part, lost_units, skip=set(gone))
            return self.load()
        self.state.files = sorted(committed_files)
        return self.state

    def _take_epoch(self, sel: manifests.Selection) -> None:
        """Settle this writer's epoch and write its fence (before any commit or clean-up of its own)."""
        seen = max([sel.fence, *(m.epoch for m in sel.current + sel.superseded + sel.fenced_out)], default=0)
        if self.epoch is None:
            self.epoch = seen + 1
        if sel.fence > self.epoch:
            raise LeaseLost(f"shard {self.tag} of {self.out} was taken over by a newer writer (epoch {sel.fence} > "
                            f"{self.epoch}); stopped writing — rerun the same command to resume")
        if sel.fence < self.epoch:
            fence = {"epoch": self.epoch, "accepted": [m.name for m in sel.current]}
            with naming(self.manifest_dir / manifests.fence_name(self.epoch)):
                storage.write_bytes(self.manifest_dir / manifests.fence_name(self.epoch), json.dumps(fence).encode())

    def _missing(self, by_part: dict[int, dict[str, Any]],
                 present: dict[str, int]) -> dict[int, tuple[set[tuple[str, str]], list[str]]]:
        """Committed files that are gone or not the size they were committed with: a ResumeError naming the
        first, or with `repair`, per part the units whose rows they held (and the files)."""
        lost: dict[int, tuple[set[tuple[str, str]], list[str]]] = {}
        for part, m in sorted(by_part.items()):
            checks = m.get("file_checks") or {}
            gone = [rel for rel in m["files"] if present.get(rel, -1) != checks.get(rel, {}).get("bytes", present.get(rel))]
            if not gone:
                continue
            if not self.repair:
                what = "is missing" if gone[0] not in present else (
                    f"has {present[gone[0]]} bytes, {checks[gone[0]]['bytes']} were committed")
                raise ResumeError(f"committed file {self.out / gone[0]} {what} (named by {self.manifest_dir.name}/"
                                  f"{self._current[part].name}); restore it, or rerun with --repair to generate "
                                  "its units again")
            units: set[tuple[str, str]] = set()
            for rel in gone:
                fate_dir, prompt = rel.split("/")[:2]
                code = FATE_CODES[FATE_STATUS[fate_dir]]
                hit = {(d, p) for d, p, fates in m["units"] if p == prompt and code in fates}
                units |= hit
                self.repaired[rel] = len(hit)
            lost[part] = (units, gone)
        return lost

    def _remove_uncommitted(self, committed: set[str], sel: manifests.Selection) -> dict[str, int]:
        """Delete what no accepted manifest names (a writer's part whose manifest never followed, a fenced-out
        writer's late files, superseded versions); returns the committed files present with their sizes.
        Only names of this epoch or older are touched: a newer writer's files are never ours to delete."""
        prefix = f"{self.tag}-part-"
        present: dict[str, int] = {}
        mine = self.epoch or 0
        for fate_dir in FATE_DIRS.values():
            for name, size in storage.find_sizes(self.out / fate_dir).items():
                rel = f"{fate_dir}/{name}"
                f = self.out / rel
                if rel in committed:
                    present[rel] = size
                elif f.name.startswith(prefix) and manifests.file_epoch(f.name) <= mine:
                    storage.remove(f)  # renamed into place, but its manifest never followed
                elif f.name.startswith(f".{prefix}") and is_stale_temp(Path(f.name)):  # a local temp of a writer that is gone
                    storage.remove(f)
        for m in sel.fenced_out + sel.superseded:
            if m.epoch <= mine:
                storage.remove(self.manifest_dir / m.name)
        for e in sel.fences:
            if e < mine:
                storage.remove(self.manifest_dir / manifests.fence_name(e))
        for f in storage.glob(self.manifest_dir, ".part-*.tmp"):
            if is_stale_temp(Path(f.name)):  # judged by its name alone (host and pid)
                storage.remove(f)
        return present

    def _retire(self, part: int, units: set[tuple[str, str]], skip: AbstractSet[str] = frozenset()) -> list[str]:
        """Remove `units`' rows from an older part: a new version of it (new file names, manifest version + 1)
        without them; returns the files written. Idempotent, so a crash part-way is finished by the next
        start; files already gone are skipped (--repair)."""
        cur = self._current[part]
        m = json.loads(storage.read_bytes(self.manifest_dir / cur.name))
        old_files = set(m["files"])
        old_checks = m.get("file_checks") or {}
        kept_rows: list[Row] = []
        tables: dict[Location, Any] = {}
        unchanged: list[str] = []  # files without any of `units`: named again as they are
        token = manifests.new_token()
        for rel in m["files"]:
            path = self.out / rel
            if rel in skip or not storage.exists(path):  # missing or damaged (--repair): its units are dropped
                continue
            with storage.open_read(path) as f:
                rows = table_to_rows(pq.read_table(f))
            keep = [r for r in rows if (r.id, r.prompt) not in units]
            kept_rows += keep
            if len(keep) == len(rows):
                unchanged.append(rel)
            elif keep:
                name = manifests.data_file_name(self.tag, part, self.epoch or 0, token)
                tables[path.parent / name] = rows_to_table(keep)
        encoded = {path: encode_table(t) for path, t in tables.items()}
        with naming(f"the part-{part:05d} files of {self.tag} in {self.out}"):
            storage.write_many({path: _filler(data) for path, (data, _) in encoded.items()})
        m["files"] = sorted([*unchanged, *(relative(p, self.out) for p in encoded)])
        m["file_checks"] = {**{rel: old_checks[rel] for rel in unchanged if rel in old_checks},
                            **{relative(p, self.out): check for p, (_, check) in encoded.items()}}
        m["units"] = [u for u in m["units"] if (u[0], u[1]) not in units]
        m["summary"] = summarize(kept_rows)
        m["epoch"], m["version"] = self.epoch, cur.version + 1
        new = manifests.manifest_name(part, self.epoch or 0, cur.version + 1)
        self._write_manifest(new, m)
        self._current[part] = parsed(new)
        old_files -= set(m["files"])
        self.guard()  # only the lease holder deletes the superseded version (readers already ignore it)
        storage.remove(self.manifest_dir / cur.name)
        for rel in sorted(old_files):
            storage.remove(self.out / rel)
        self.state.summaries[part] = m["summary"]
        self.state.files = sorted((set(self.state.files) - old_files) | set(m["files"]))
        return [relative(p, self.out) for p in encoded]

    def _write_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        """The commit marker, after the lease check and the epoch check on the output store itself."""
        self.guard()  # still the shard's only writer? (a lost lease stops here, before the commit marker)
        newer = [e for e in manifests.fence_epochs(storage.listdir(self.manifest_dir)) if e > (self.epoch or 0)]
        if newer:
            raise LeaseLost(f"shard {self.tag} of {self.out} was taken over by a newer writer (epoch {newer[-1]}); "
                            "stopped writing — rerun the same command to resume")
        with naming(self.manifest_dir / name):
            storage.write_bytes(self.manifest_dir / name, json.dumps(manifest).encode())

    # ---- commit --------------------------------------------------------------------
    def commit(self, rows: list[Row], text_hashes: dict[str, str],
               retried: AbstractSet[tuple[str, str]] = frozenset()) -> list[str]:
        """Atomically record the units (document, prompt) of `rows` as finished; returns the files written
        (the part's, and older parts' files rewritten without retried units). Units in `retried` were
        committed before (dead-lettered) and their old rows are replaced."""
        if not rows:
            return []
        rows = [scrubbed(r) for r in rows]
        units: dict[tuple[str, str], str] = {}
        for r in sorted(rows, key=lambda r: (r.id, r.prompt, r.sample)):
            units[(r.id, r.prompt)] = units.get((r.id, r.prompt), "") + FATE_CODES[r.status]
        part = self.state.next_part
        token = manifests.new_token()
        by_file: dict[Location, list[Row]] = {}
        for r in rows:
            folder = self.out / FATE_DIRS[r.status] / r.prompt
            by_file.setdefault(folder / manifests.data_file_name(self.tag, part, self.epoch or 0, token), []).append(r)
        encoded = {path: encode_table(rows_to_table(group)) for path, group in by_file.items()}
        where = next(iter(by_file)) if len(by_file) == 1 else f"the part-{part:05d} files of {self.tag} in {self.out}"
        with naming(where):
            storage.write_many({path: _filler(data) for path, (data, _) in encoded.items()})
        summary = summarize(rows)
        replaced = {u: self.state.part_of[u] for u in units if u in retried and u in self.state.part_of}
        manifest: dict[str, Any] = {
            "part": part,
            "tag": self.tag,
            "epoch": self.epoch,
            "version": 0,
            "files": sorted(relative(p, self.out) for p in by_file),
            "file_checks": {relative(p, self.out): check for p, (_, check) in encoded.items()},
            "units": [[doc_id, prompt, fates] for (doc_id, prompt), fates in units.items()],
            "text_hashes": text_hashes,
            "summary": summary,
        }
        if replaced:
            manifest["retried"] = [list(u) for u in sorted(replaced)]
        name = manifests.manifest_name(part, self.epoch or 0)
        self._write_manifest(name, manifest)
        self._current[part] = parsed(name)
        self.state.next_part = part + 1
        self.state.units.update(units)
        self.state.part_of.update((u, part) for u, fates in units.items() if "f" in fates)
        for u in replaced:
            if "f" not in units[u]:
                self.state.part_of.pop(u, None)
        self.state.text_hashes.update(text_hashes)
        self.state.summaries[part] = summary
        self.state.files.extend(manifest["files"])
        written: list[str] = list(manifest["files"])
        by_old_part: dict[int, set[tuple[str, str]]] = {}
        for u, old in replaced.items():
            by_old_part.setdefault(old, set()).add(u)
        for old, us in sorted(by_old_part.items()):
            written += self._retire(old, us)
        return written


def scrubbed(r: Row) -> Row:
    """The row with secrets scrubbed from its error/reason (header-looking values too) and its texts
    (known key values only: generated prose about APIs stays as written) — the last stop before disk."""
    changes: dict[str, Any] = {}  # text fields only
    if r.reason:
        reason = scrub(r.reason)
        if reason != r.reason:
            changes["reason"] = reason
    for name in ("generation", "raw_generation"):
        text = getattr(r, name)
        if text and scrub(text, headers=False) != text:
            changes[name] = scrub(text, headers=False)
    return dataclasses.replace(r, **changes) if changes else r


def encode_table(table: Any) -> tuple[bytes, dict[str, Any]]:
    """A part file's bytes and what `rephraser verify` checks later: rows, size, SHA-256."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    return data, {"rows": table.num_rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _filler(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda f: f.write(data)


@contextlib.contextmanager
def naming(path: Location | str) -> Iterator[None]:
    """An OSError while writing `path` (disk full, quota, read-only) becomes a WriteError naming it."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None


def relative(path: Location, root: Location) -> str:
    """`path` below `root` as manifests name it (both on the local disk, or both on one store)."""
    if isinstance(path, Path) and isinstance(root, Path):
        return str(path.relative_to(root))
    if isinstance(path, Url) and isinstance(root, Url):
        return str(path.relative_to(root))
    raise ValueError(f"{path} is not below {root}")


def parsed(name: str) -> ManifestName:
    """The parsed name of a manifest this writer just named (manifests.manifest_name)."""
    m = manifests.parse_manifest(name)
    if m is None:
        raise ValueError(f"not a manifest name: {name}")
    return m
