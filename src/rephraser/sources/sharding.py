"""Which part of the input each shard reads: whole files, Parquet row groups, or records by id hash.

Modes (`source.sharding`):
- `files`: the input's files, in their sorted order, are cut into `shard_count` contiguous runs of
  about equal bytes (a file goes to the shard holding the middle of its bytes). A shard opens only
  its own files, so N shards cost 1/N each.
- `row_groups`: the same cut over Parquet row groups (other files count as one unit each), for
  inputs of few large Parquet files. A shard reads only its own row groups (plus the footers of the
  files they are in).
- `hash`: every shard reads everything and keeps the records with int(sha256(id)[:8], 16) % N == i;
  for one big JSONL file, or ids that may repeat across files (only this mode sees every repeat).
- `auto` (default): `files` when every shard gets at least one file and none more than 1.25x the
  mean bytes; else `row_groups` when the input is all Parquet and row groups balance that well;
  else `hash`. With one shard every mode reads everything.

The plan is a pure function of the file listing (names, sizes) and, for row groups, the Parquet
footers; a run writes it to OUT/sharding.json before any record is read, and every later start of
any shard reads it from there instead of planning again. What a resumed run checks: in `files`
mode the same file names (files may grow: appended records are new work, as in hash mode); in
`row_groups` mode also the same Parquet sizes (row group numbers must mean the same rows); with one
shard, or in `hash` mode, nothing (every shard reads everything anyway).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rephraser import storage
from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.sizes import human_bytes
from rephraser.sources.files import FileList, SourceFile, is_wiki, list_files
from rephraser.sources.parquet import opened_parquet
from rephraser.storage import Location

PLAN_FILE = "sharding.json"
PLAN_FORMAT = "rephraser-sharding/1"
BALANCE = 1.25  # auto accepts files/row_groups when the largest shard is at most this times the mean


def shard_of(record_id: str, shard_count: int) -> int:
    """int(sha256(id)[:8 hex], 16) % shard_count — the same on every machine and Python version."""
    if shard_count <= 1:
        return 0
    digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()
    return int(digest[:8], 16) % shard_count


@dataclass(frozen=True)
class Unit:
    """A piece of input owned by one shard: a whole file, or a run [first, end) of its row groups."""

    file: int  # index into ShardPlan.files
    row_groups: tuple[int, int] | None
    rows: int | None
    bytes: int
    shard: int


@dataclass
class ShardPlan:
    mode: str  # files | row_groups | hash
    shard_count: int
    files: list[SourceFile]
    sizes: list[int]
    units: list[Unit]  # empty in hash mode
    recorded: bool = False  # read from a run folder's sharding.json (nothing to write)

    def units_of(self, shard: int) -> list[Unit]:
        return [u for u in self.units if u.shard == shard]

    @property
    def pins_files(self) -> bool:
        """Whether shards own fixed parts of the input (else every shard reads every file)."""
        return self.mode != "hash" and self.shard_count > 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": PLAN_FORMAT, "mode": self.mode, "shard_count": self.shard_count}
        if not self.pins_files:
            return data
        data["files"] = [{"name": f.name, "size": s} for f, s in zip(self.files, self.sizes, strict=True)]
        data["shards"] = []
        for k in range(self.shard_count):
            mine = self.units_of(k)
            data["shards"].append({
                "bytes": sum(u.bytes for u in mine), "rows": sum(u.rows or 0 for u in mine) if self.mode == "row_groups" else None,
                "units": [{"file": u.file, "row_groups": list(u.row_groups) if u.row_groups else None,
                           "rows": u.rows, "bytes": u.bytes} for u in mine]})
        return data


def describe_plan(plan: ShardPlan, shard: int) -> str:
    """e.g. "files: shard 3 of 16 owns 12 of 190 files (1.2 GiB of 19.0 GiB)"."""
    if plan.mode == "hash":
        return f"hash: shard {shard} of {plan.shard_count} reads all {len(plan.files) or 1} file(s) and keeps ids with " \
               f"sha256(id) % {plan.shard_count} == {shard}"
    mine = plan.units_of(shard)
    own, total = sum(u.bytes for u in mine), sum(plan.sizes)
    what = f"{len({u.file for u in mine})} of {len(plan.files)} files"
    if plan.mode == "row_groups":
        what = f"{sum(u.row_groups[1] - u.row_groups[0] for u in mine if u.row_groups)} row groups in " + what
    return f"{plan.mode}: shard {shard} of {plan.shard_count} owns {what} ({human_bytes(own)} of {human_bytes(total)})"


def plan_shards(cfg: SourceConfig, listing: FileList | None = None) -> ShardPlan:
    """The plan for cfg's input and shard count (reads Parquet footers only for row_groups)."""
    n = cfg.shard_count
    if is_wiki(cfg):
        if cfg.sharding not in ("auto", "hash"):
            raise SourceError(f"the embedded wiki source is one file: source.sharding {cfg.sharding!r} needs a path "
                              "input (use hash)")
        return ShardPlan("hash", n, [], [], [])
    files = (listing or list_files(cfg)).files
    if cfg.sharding == "hash" or n == 1:
        # Nothing is pinned: sizes are not needed (a remote listing would pay a request per file).
        mode = "files" if cfg.sharding == "auto" else cfg.sharding  # one shard: any mode reads every file whole
        units = [] if mode == "hash" else [Unit(i, None, None, 0, 0) for i in range(len(files))]
        return ShardPlan(mode, n, files, [0] * len(files), units)
    sizes = [_size(f) for f in files]
    by_file = [(i, None, None, s) for i, s in enumerate(sizes)]
    if cfg.sharding == "files":
        return ShardPlan("files", n, files, sizes, _cut(by_file, n))
    if cfg.sharding == "auto":
        units = _cut(by_file, n)
        if _balanced(units, n):
            return ShardPlan("files", n, files, sizes, units)
        if not all(f.kind == "parquet" for f in files):
            return ShardPlan("hash", n, files, sizes, [])
    units = _cut(_row_group_pieces(files, sizes), n)
    if cfg.sharding == "auto" and not _balanced(units, n):
        return ShardPlan("hash", n, files, sizes, [])
    return ShardPlan("row_groups", n, files, sizes, _merge(units))


def _size(f: SourceFile) -> int:
    try:
        return storage.size(f.path)
    except OSError as e:
        raise SourceError(f"cannot read {f.path}: {e.strerror or e}") from None


def _cut(pieces: list[tuple[int, tuple[int, int] | None, int | None, int]], n: int) -> list[Unit]:
    """Contiguous runs of about equal bytes: a piece goes to the shard holding the middle of its bytes."""
    total = sum(p[3] for p in pieces)
    units, before = [], 0
    for k, (file, groups, rows, size) in enumerate(pieces):
        if total:
            shard = min(n - 1, ((2 * before + size) * n) // (2 * total))
        else:  # nothing but empty files: cut by count
            shard = min(n - 1, (k * n) // max(len(pieces), 1))
        units.append(Unit(file, groups, rows, size, shard))
        before += size
    return units


def _balanced(units: list[Unit], n: int) -> bool:
    loads = [0] * n
    for u in units:
        loads[u.shard] += u.bytes
    owners = {u.shard for u in units}
    total = sum(loads)
    return len(owners) == n and max(loads) * n <= BALANCE * total


def _row_group_pieces(files: list[SourceFile], sizes: list[int]) -> list[tuple[int, tuple[int, int] | None, int | None, int]]:
    pieces: list[tuple[int, tuple[int, int] | None, int | None, int]] = []
    for i, (f, size) in enumerate(zip(files, sizes, strict=True)):
        if f.kind != "parquet":
            pieces.append((i, None, None, size))
            continue
        with opened_parquet(f) as pf:
            meta = pf.metadata
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                nbytes = sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
                pieces.append((i, (g, g + 1), rg.num_rows, nbytes))
    return pieces


def _merge(units: list[Unit]) -> list[Unit]:
    """Adjacent row groups of one file owned by one shard become one run."""
    merged: list[Unit] = []
    for u in units:
        last = merged[-1] if merged else None
        if (last and u.row_groups and last.row_groups and last.file == u.file and last.shard == u.shard
                and last.row_groups[1] == u.row_groups[0]):
            merged[-1] = Unit(u.file, (last.row_groups[0], u.row_groups[1]), (last.rows or 0) + (u.rows or 0),
                              last.bytes + u.bytes, u.shard)
        else:
            merged.append(u)
    return merged


# ---- the plan in a run folder -----------------------------------------------------------------
def run_plan(cfg: SourceConfig, out: Location, *, fresh: bool = False) -> ShardPlan:
    """The plan of a run writing to `out`: the one recorded there (checked against the input), else a
    new one. fresh=True (an --overwrite run) ignores a recorded plan."""
    recorded = None if fresh else _read_plan(out)
    if recorded is None:
        if not fresh and cfg.shard_count > 1 and storage.is_dir(out / "manifests"):
            # Outputs made before shard plans existed were sharded by id hash: keep it.
            if cfg.sharding not in ("auto", "hash"):
                raise SourceError(f"{out} was sharded by id hash (it has outputs but no {PLAN_FILE}); "
                                  "keep source.sharding: hash (or auto) to resume it")
            return plan_shards(cfg.model_copy(update={"sharding": "hash"}))
        return plan_shards(cfg)
    if cfg.sharding not in ("auto", recorded["mode"]):
        raise SourceError(f"{out / PLAN_FILE} splits this run by {recorded['mode']}, not {cfg.sharding}; "
                          "use another output folder to change how shards split the input")
    if recorded["shard_count"] != cfg.shard_count:
        raise SourceError(f"{out / PLAN_FILE} is a plan for {recorded['shard_count']} shards, not {cfg.shard_count}")
    if "files" not in recorded:  # one shard, or hash: nothing pinned, plan on today's listing
        plan = plan_shards(cfg.model_copy(update={"sharding": recorded["mode"]}))
    else:
        plan = _pinned(recorded, cfg, out)
    plan.recorded = True
    return plan


def record_plan(out: Location, plan: ShardPlan) -> None:
    """Write OUT/sharding.json for a newly made plan (shards starting together write the same bytes)."""
    if plan.recorded:
        return
    data = plan.to_json()
    try:
        storage.write_json(out / PLAN_FILE, data, sort_keys=True)
    except OSError:
        # Shards starting together write the same plan; losing that race is fine when the winner's
        # plan is this one.
        if _read_plan(out) != data:
            raise


def _read_plan(out: Location) -> dict[str, Any] | None:
    import json

    path = out / PLAN_FILE
    if not storage.exists(path):
        return None
    try:
        data = json.loads(storage.read_text(path))
    except ValueError as e:
        raise SourceError(f"{path} is unreadable ({e})") from None
    if data.get("format") != PLAN_FORMAT:
        raise SourceError(f"{path} is not a rephraser shard plan")
    return data


def _pinned(data: dict[str, Any], cfg: SourceConfig, out: Location) -> ShardPlan:
    """A recorded files/row_groups plan, with the input checked against it."""
    files = list_files(cfg).files
    planned = [(e["name"], e["size"]) for e in data["files"]]
    names = [n for n, _ in planned]
    if [f.name for f in files] != names:
        now = {f.name for f in files}
        added, gone = sorted(now - set(names)), sorted(set(names) - now)
        what = "; ".join(x for x in (f"added: {', '.join(added[:3])}" if added else "",
                                     f"missing: {', '.join(gone[:3])}" if gone else "") if x) or "a different order"
        raise SourceError(f"the input files differ from those {out / PLAN_FILE} assigned to shards ({what}); "
                          "restore them or use another output folder")
    sizes = [s for _, s in planned]
    if data["mode"] == "row_groups":
        for f, size in zip(files, sizes, strict=True):
            if f.kind == "parquet" and _size(f) != size:
                raise SourceError(f"{f.path} changed since {out / PLAN_FILE} assigned its row groups to shards; "
                                  "use another output folder")
    units = [Unit(u["file"], tuple(u["row_groups"]) if u["row_groups"] else None, u["rows"], u["bytes"], k)
             for k, shard in enumerate(data["shards"]) for u in shard["units"]]
    return ShardPlan(data["mode"], data["shard_count"], files, sizes, units)
