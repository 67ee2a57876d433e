"""A run's output folder: its layout and reading it back (its identity, written and checked by a writer
on start, is run_identity.py).

    run.json                        what the folder contains: config fingerprint + prompt hashes
    config.yaml                     the resolved RunConfig: `rephraser run --config OUT/config.yaml` reproduces it
    data/<prompt>/*.parquet         rows that passed their contract        (records.FATE_DIRS)
    rejected/<prompt>/*.parquet     rows that did not, each with its reason
    dead_letter/<prompt>/*.parquet  documents whose calls failed, each with its error
    manifests/<shard>/part-*.json   commit markers (generate/checkpoint.py)
    leases/<shard>/, leases/_folder/  who writes each shard, and folder-wide changes (writer_leases.py)
    stats/<shard>.json, stats.json  per-shard and merged run statistics (generate/stats.py)

Shards are named by `shard_tag` ("s00003-of-00010"); `shard_status` says which are finished, from the
folder alone (what every executor and `status` reads, never a scheduler's accounting).

Readers stream Parquet parts batch by batch with only the columns they ask for,
so statistics over a large run stay within a few batches of memory; hidden files (temps of a commit in
progress) are skipped. Reports read in two passes: `scan_rows` reads the light columns of every row,
`read_rows` then fetches the heavy text columns of a chosen few.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from rephraser import manifests, storage
from rephraser.errors import RephraserError, ResumeError, StorageError
from rephraser.records import FATE_DIRS, OPTIONAL_COLUMNS, ROW_COLUMNS, ROW_SCHEMA
from rephraser.writer_leases import LEASES_DIR, live_shard_writers

RUN_JSON, CONFIG_YAML, STATS_JSON = "run.json", "config.yaml", "stats.json"
OVERWRITE_PREFIX = ".overwrite-"  # results being deleted by --overwrite
BATCH_ROWS = 2048
# What reports need of every row (no text columns).
LIGHT_COLUMNS: tuple[str, ...] = (
    "id", "sample", "prompt", "prompt_hash", "model", "engine", "status", "reason", "finish_reason",
    "prompt_tokens", "completion_tokens", "source_metadata", "sampling", "input_truncated",
)


class RunFolderError(RephraserError):
    """The folder is missing, is not a rephraser run output, or holds an unreadable file."""


# ---- opening a folder --------------------------------------------------------------------------
def check_output_folder(out_dir: storage.PathLike) -> storage.Location:
    """The folder (a local Path or a remote Url), or a one-line error when it is not a rephraser run output."""
    p = storage.as_location(out_dir)
    entries = storage.listdir(p)
    if not entries and not storage.is_dir(p):
        raise RunFolderError(f"not a folder: {p}" if storage.exists(p) else f"output folder not found: {p}")
    if not {*FATE_DIRS.values(), "manifests", CONFIG_YAML} & set(entries):
        raise RunFolderError(f"{p} is not a rephraser output folder (no data/, rejected/, dead_letter/ or config.yaml)")
    return p


def committed_files(out_dir: storage.PathLike, *, check: bool = True) -> set[str]:
    """Every file an accepted manifest of any shard names (paths relative to the output folder): the
    committed output. A file in data/, rejected/ or dead_letter/ that no accepted manifest names is an
    unfinished part or the late write of a fenced-off writer (manifests.py): never output.
    check: refuse (one line naming it) a folder where a committed file is missing."""
    out = storage.as_location(out_dir)
    mans = committed_manifests(out)
    named_by = {f: name for name, m in mans.items() for f in _files_of(name, m, out)}
    if check and named_by:
        present = {f"{d}/{n}": size for d in FATE_DIRS.values() for n, size in storage.find_sizes(out / d).items()}
        gone = sorted(set(named_by) - set(present))
        if gone:
            raise RunFolderError(missing_file_message(out, gone[0], named_by[gone[0]], len(gone)))
        for name, m in sorted(mans.items()):  # sizes recorded at commit: a file cut short is refused too
            for rel, chk in sorted((m.get("file_checks") or {}).items()):
                if rel in present and present[rel] != chk.get("bytes", present[rel]):
                    raise RunFolderError(f"committed file {out / rel} has {present[rel]} bytes, {chk['bytes']} "
                                         f"were committed (manifests/{name}); restore it, or regenerate its units "
                                         f"with `rephraser run --config {out / CONFIG_YAML} --repair`")
    return set(named_by)


def _files_of(name: str, m: dict[str, Any], out: storage.Location) -> list[str]:
    try:
        return list(m["files"])
    except (KeyError, TypeError) as e:
        raise ResumeError(f"manifest {name} in {out} is unreadable ({e})") from None


def missing_file_message(out: storage.Location, rel: str, manifest: str, n: int = 1) -> str:
    more = f" (and {n - 1} more)" if n > 1 else ""
    return (f"committed file {out / rel} is missing{more} (named by manifests/{manifest}); refusing to read an "
            f"incomplete folder — restore it, or regenerate its units with `rephraser run --config "
            f"{out / CONFIG_YAML} --repair` (`rephraser verify {out}` checks the whole folder)")


def committed_manifests(out_dir: storage.PathLike) -> dict[str, dict[str, Any]]:
    """The accepted manifest of every committed part: 'tag/name' -> its content."""
    root = storage.as_location(out_dir) / "manifests"
    names: list[str] = []
    for tag in storage.listdir(root):
        if tag.startswith("."):
            continue
        names += [f"{tag}/{n}" for n in manifests.select(root / tag).names]
    try:
        return {n: json.loads(raw) for n, raw in zip(names, storage.read_many([root / n for n in names]), strict=True)}
    except (OSError, ValueError) as e:
        raise ResumeError(f"a manifest in {root} is unreadable ({e}); the output folder was modified by hand") from None


def _read_document(path: storage.Location, parse: Any) -> dict[str, Any]:
    """A YAML/JSON mapping file as a dict ({} when absent); anything unreadable is a one-line error."""
    if not storage.exists(path):
        return {}
    try:
        loaded = parse(storage.read_text(path))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        raise RunFolderError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise RunFolderError(f"{path} must be a mapping")
    return loaded


def read_config(out_dir: storage.PathLike) -> dict[str, Any]:
    """The run's config.yaml as plain data, not validated (folders of older versions still read)."""
    return _read_document(storage.as_location(out_dir) / CONFIG_YAML, yaml.safe_load)


def read_stats(out_dir: storage.PathLike) -> dict[str, Any]:
    """The run's merged stats.json ({} when the run has not finished a shard yet)."""
    return _read_document(storage.as_location(out_dir) / STATS_JSON, json.loads)


@dataclass(frozen=True)
class PartFile:
    status: str  # ok | rejected | failed (from the folder it lies in)
    prompt: str  # the prompt folder name
    path: storage.Location

    @property
    def name(self) -> str:
        return self.path.name


def list_parts(out_dir: storage.PathLike, statuses: Iterable[str] = tuple(FATE_DIRS)) -> list[PartFile]:
    """Committed Parquet parts, sorted by (status, prompt, file name) for deterministic order. A folder a
    run is still writing (or that a kill left) may hold part files whose manifest was never written: they
    are not output yet (a restart deletes and redoes them), so they are left out. A folder without
    manifests (a `clean` copy) lists every part."""
    root = check_output_folder(out_dir)
    committed = committed_files(root)
    parts: list[PartFile] = []
    for status in statuses:
        if status not in FATE_DIRS:
            raise ValueError(f"unknown status {status!r}")
        base = root / FATE_DIRS[status]
        for name in storage.find(base):  # <prompt>/<part>.parquet; one listing, also on an object store
            prompt, _, file = name.partition("/")
            if "/" in file or not file.endswith(".parquet") or prompt.startswith(".") or file.startswith("."):
                continue
            if committed and f"{FATE_DIRS[status]}/{name}" not in committed:
                continue
            parts.append(PartFile(status=status, prompt=prompt, path=base / prompt / file))
    return parts


@dataclass
class RunFolder:
    """A run folder opened for reporting: its config, its stats and its committed parts."""

    path: storage.Location
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    parts: list[PartFile] = field(default_factory=list)

    @property
    def prompts(self) -> list[str]:
        """Prompt names with any rows, plus configured prompts (an empty prompt is still reported)."""
        names = {p.prompt for p in self.parts}
        for ref in self.config.get("prompts") or []:
            names.add(Path(str(ref)).stem)
        return sorted(names)


def open_run(out_dir: storage.PathLike) -> RunFolder:
    """Check the folder and load its config.yaml and stats.json (both optional, parsed when present)."""
    path = check_output_folder(out_dir)
    return RunFolder(path=path, config=read_config(path), stats=read_stats(path), parts=list_parts(path))


# ---- reading rows ------------------------------------------------------------------------------
def _check_columns(columns: Iterable[str]) -> list[str]:
    cols = list(columns)
    unknown = [c for c in cols if c not in ROW_COLUMNS]
    if unknown:
        raise ValueError(f"unknown row columns: {unknown}")
    return cols


def iter_batches(part: PartFile, columns: Iterable[str]) -> Iterator[pa.RecordBatch]:
    cols = _check_columns(columns)
    try:
        with storage.parquet_file(part.path) as pf:
            present = set(pf.schema_arrow.names)
            missing = [c for c in cols if c not in present and c not in OPTIONAL_COLUMNS]
            if missing:
                raise RunFolderError(f"{part.path}: missing columns {missing} (not a rephraser row file)")
            absent = [c for c in cols if c not in present]
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[c for c in cols if c in present]):
                yield _with_nulls(batch, absent) if absent else batch
    except (OSError, pa.ArrowException) as e:
        raise RunFolderError(f"cannot read {part.path}: {str(e).splitlines()[0]}") from None


def iter_rows(
    out_dir: storage.PathLike,
    columns: Iterable[str],
    statuses: Iterable[str] = tuple(FATE_DIRS),
) -> Iterator[tuple[PartFile, dict[str, Any]]]:
    """(part, row dict with only `columns`) for every committed row, streaming."""
    cols = _check_columns(columns)
    for part in list_parts(out_dir, statuses):
        for batch in iter_batches(part, cols):
            yield from ((part, row) for row in batch.to_pylist())


def read_part(part: PartFile) -> pa.Table:
    """One whole part with every row column (parts are bounded by rows_per_part)."""
    try:
        with storage.parquet_file(part.path) as pf:
            table = pf.read()
    except (OSError, pa.ArrowException) as e:
        raise RunFolderError(f"cannot read {part.path}: {str(e).splitlines()[0]}") from None
    missing = [c for c in ROW_COLUMNS if c not in table.column_names and c not in OPTIONAL_COLUMNS]
    if missing:
        raise RunFolderError(f"{part.path}: missing columns {missing} (not a rephraser row file)")
    for c in ROW_COLUMNS:
        if c not in table.column_names:  # a file written before the column existed
            table = table.append_column(ROW_SCHEMA.field(c), pa.nulls(len(table), ROW_SCHEMA.field(c).type))
    return table.select(list(ROW_COLUMNS))


def _with_nulls(batch: pa.RecordBatch, absent: list[str]) -> pa.RecordBatch:
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for c in absent:
        arrays.append(pa.nulls(batch.num_rows, ROW_SCHEMA.field(c).type))
        names.append(c)
    return pa.RecordBatch.from_arrays(arrays, names=names)


@dataclass(frozen=True)
class RowRef:
    """Where one row lives: enough to read its text columns later."""

    file: storage.Location
    index: int


def _read_available(file: storage.Location, columns: Iterable[str]) -> pa.Table:
    """The requested columns a file has (files of older versions may lack newer columns)."""
    try:
        with storage.parquet_file(file) as pf:
            names = set(pf.schema_arrow.names)
            return pf.read(columns=[c for c in columns if c in names])
    except (OSError, pa.ArrowException) as e:
        raise RunFolderError(f"cannot read {file}: {str(e).splitlines()[0]}") from None


def scan_rows(run: RunFolder, columns: Iterable[str] = LIGHT_COLUMNS) -> Iterator[tuple[RowRef, dict[str, Any]]]:
    """Every row's light columns, with a reference for fetching its text later."""
    cols = [c for c in columns if c in ROW_COLUMNS]
    for part in run.parts:
        for i, row in enumerate(_read_available(part.path, cols).to_pylist()):
            yield RowRef(part.path, i), row


def read_rows(refs: Iterable[RowRef], columns: Iterable[str] = ROW_COLUMNS) -> dict[RowRef, dict[str, Any]]:
    """Full rows for the given references, reading each file once."""
    by_file: dict[storage.Location, list[int]] = {}
    for r in refs:
        by_file.setdefault(r.file, []).append(r.index)
    out: dict[RowRef, dict[str, Any]] = {}
    cols = list(columns)
    for f, indices in by_file.items():
        wanted = sorted(set(indices))
        table = _read_available(f, cols).take(pa.array(wanted, type=pa.int64()))
        for idx, row in zip(wanted, table.to_pylist(), strict=True):
            out[RowRef(f, idx)] = row
    return out


# ---- shards: their names and which are finished -----------------------------------------------
def shard_tag(index: int, count: int) -> str:
    return f"s{index:05d}-of-{count:05d}"


@dataclass
class ShardStatus:
    index: int
    tag: str
    state: str  # "complete" | "incomplete" (ran, missing units) | "not started"


def shard_status(out_dir: storage.PathLike, count: int) -> list[ShardStatus]:
    """Each shard's state, from OUT/stats/<shard>.json and OUT/manifests/<shard>/ (local or a URL: two
    listings and one concurrent fetch of the stats files, not a round trip per shard)."""
    out = storage.as_location(out_dir)
    tags = [shard_tag(i, count) for i in range(count)]
    stats_names = set(storage.listdir(out / "stats"))
    started = set(storage.listdir(out / "manifests"))
    have = [t for t in tags if f"{t}.json" in stats_names]
    try:
        stats = dict(zip(have, storage.read_many([out / "stats" / f"{t}.json" for t in have]), strict=True))
    except (OSError, StorageError):  # one removed since the listing (--overwrite): read them one by one
        stats = {}
        for t in have:
            with contextlib.suppress(OSError, StorageError):
                stats[t] = storage.read_bytes(out / "stats" / f"{t}.json")
    found = []
    for i, tag in enumerate(tags):
        try:
            s = json.loads(stats[tag])
        except (KeyError, ValueError):
            found.append(ShardStatus(i, tag, "incomplete" if tag in started else "not started"))
            continue
        done = bool(s.get("complete")) and bool(s.get("conservation_ok"))
        found.append(ShardStatus(i, tag, "complete" if done else "incomplete"))
    return found


def live_writers(out_dir: Path) -> dict[str, str]:
    """Shards (and folder changes) a live process is writing now -> "host H pid P" (none: empty). A
    local folder only: what `experiment status` calls `running` for a stage with no executor record."""
    if not (out_dir / LEASES_DIR).is_dir():
        return {}
    return {name: f"host {h.host} pid {h.pid}" for name, h in live_shard_writers(out_dir).items()}
