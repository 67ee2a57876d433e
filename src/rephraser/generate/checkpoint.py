"""Exactly-once commits: Parquet parts + a manifest written last.

A commit writes every Parquet file of one part atomically (temp file, fsync, rename), then the part's
manifest the same way, then fsyncs the folders. The manifest is the commit marker: a part without a
manifest never happened, and its files are deleted on the next start. A restart reads only manifests
(never the outputs) to learn which (document, prompt) units are finished, so resume cost grows with
the number of parts, not with the bytes already written.

Each shard of a run (`tag` = "s00003-of-00010") has its own manifests folder and file names, so many
workers can commit into one output folder without coordination; each shard has one writer at a time
(writer_leases.py), and `guard` (the writer's lease check) runs before every manifest is written.

The protocol needs no rename, so it holds on object stores too (rephraser.storage): there every file
is one PUT, visible whole or not at all, and the manifest PUT comes last.

Retrying dead letters (`rephraser run --retry-failed`): a unit's new rows are committed in a new part
whose manifest lists the unit under `retried`; that manifest is the atomic switch. The unit's old rows
are then removed from the older part (its files and its manifest rewritten without them). A crash in
between leaves the older part still naming the unit; the next start sees the `retried` mark, finishes
the removal, and the unit counts once either way.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from rephraser import storage
from rephraser.atomic import is_stale_temp
from rephraser.errors import ResumeError, WriteError
from rephraser.records import FATE_DIRS, Row, rows_to_table, table_to_rows
from rephraser.storage import Location

FATE_CODES = {"ok": "o", "rejected": "r", "failed": "f"}
INPUT_PROMPT = "_input"  # pseudo-prompt of records rejected before any model call


def shard_tag(index: int, count: int) -> str:
    return f"s{index:05d}-of-{count:05d}"


@dataclass
class DoneState:
    """Everything a restart needs, read from manifests only."""

    units: dict[tuple[str, str], str] = field(default_factory=dict)  # (doc id, prompt) -> fates, one char per row
    part_of: dict[tuple[str, str], int] = field(default_factory=dict)  # dead-lettered unit -> part holding its rows
    text_hashes: dict[str, str] = field(default_factory=dict)  # doc id -> text hash at generation time
    next_part: int = 0
    summaries: dict[int, dict] = field(default_factory=dict)  # part -> its manifest's summary, for stats
    files: list[str] = field(default_factory=list)  # committed files (relative to the output folder)

    @property
    def parts(self) -> list[dict]:
        return list(self.summaries.values())


class Checkpoint:
    def __init__(self, out_dir: Location | str, tag: str, guard: Callable[[], None] | None = None):
        self.out = storage.as_location(out_dir)
        self.tag = tag
        self.manifest_dir = self.out / "manifests" / tag
        self.guard = guard or (lambda: None)
        self.state = DoneState()

    def _manifest(self, part: int) -> Location:
        return self.manifest_dir / f"part-{part:05d}.json"

    # ---- restart -------------------------------------------------------------------
    def load(self) -> DoneState:
        """Read this shard's manifests, finish interrupted retries, delete uncommitted leftovers, return
        what is done."""
        storage.makedirs(self.manifest_dir)
        self.state = DoneState()
        committed_files: set[str] = set()
        unfinished: dict[int, set[tuple[str, str]]] = {}  # older part -> units a later part retried
        names = [n for n in storage.listdir(self.manifest_dir) if n.startswith("part-") and n.endswith(".json")]
        paths = [self.manifest_dir / n for n in names]
        try:
            contents = storage.read_many(paths)  # remote: fetched concurrently, not one round trip each
        except OSError as e:
            raise ResumeError(f"cannot read the manifests in {self.manifest_dir}: {e.strerror or e}") from None
        manifests = []
        for mf, raw in zip(paths, contents, strict=True):
            try:
                manifests.append(json.loads(raw))
            except ValueError as e:  # a manifest is written atomically, so this is outside damage
                raise ResumeError(f"manifest {mf} is unreadable ({e}); the output folder was modified by hand") from None
        for m in sorted(manifests, key=lambda m: int(m["part"])):  # later parts override retried units
            part = int(m["part"])
            retried = {(d, p) for d, p in m.get("retried", ())}
            committed_files.update(m["files"])
            units, part_of = self.state.units, self.state.part_of
            for doc_id, prompt, fates in m["units"]:
                unit = (doc_id, prompt)
                if unit in units:
                    if unit not in retried or unit not in part_of:  # exactly-once violated: say it loudly
                        raise ResumeError(f"unit ({doc_id!r}, {prompt!r}) is committed twice (second time in "
                                          f"part-{part:05d}.json)")
                    unfinished.setdefault(part_of[unit], set()).add(unit)
                units[unit] = fates
                if "f" in fates:  # only dead letters can be retried, so only they need their part
                    part_of[unit] = part
            self.state.text_hashes.update(m["text_hashes"])
            self.state.summaries[part] = m["summary"]
        self.state.next_part = max(self.state.summaries, default=-1) + 1
        if unfinished:
            for part, units in sorted(unfinished.items()):
                self._retire(part, units)
            return self.load()
        self.state.files = sorted(committed_files)
        self._remove_uncommitted(committed_files)
        return self.state

    def _remove_uncommitted(self, committed: set[str]) -> None:
        prefix = f"{self.tag}-part-"
        for fate_dir in FATE_DIRS.values():
            for f in storage.glob(self.out / fate_dir, "*/*"):
                if f.name.startswith(prefix) and str(f.relative_to(self.out)) not in committed:
                    storage.remove(f)  # renamed into place, but its manifest never followed
                elif f.name.startswith(f".{prefix}") and is_stale_temp(f):  # a local temp of a writer that is gone
                    storage.remove(f)
        for f in storage.glob(self.manifest_dir, ".part-*.tmp"):
            if is_stale_temp(f):
                storage.remove(f)

    def _retire(self, part: int, units: set[tuple[str, str]]) -> list[str]:
        """Remove `units`' rows from an older part: rewrite its files and then its manifest without them;
        returns the files rewritten. Idempotent, so a crash part-way is finished by the next start."""
        mf = self._manifest(part)
        m = json.loads(storage.read_bytes(mf))
        kept_rows: list[Row] = []
        kept_files: list[str] = []
        rewritten: list[str] = []
        emptied: list[Location] = []
        for rel in m["files"]:
            path = self.out / rel
            if not storage.exists(path):  # emptied by an interrupted earlier retire
                continue
            with storage.open_read(path) as f:
                rows = table_to_rows(pq.read_table(f))
            keep = [r for r in rows if (r.id, r.prompt) not in units]
            if len(keep) != len(rows):
                if not keep:
                    emptied.append(path)
                    continue
                with naming(path):
                    storage.write_table(rows_to_table(keep), path)
                rewritten.append(rel)
            kept_rows += keep
            kept_files.append(rel)
        m["files"] = kept_files
        m["units"] = [u for u in m["units"] if (u[0], u[1]) not in units]
        m["summary"] = summarize(kept_rows)
        with naming(mf):
            storage.write_bytes(mf, json.dumps(m).encode())
        for path in emptied:  # named by no manifest any more
            storage.remove(path)
        self.state.summaries[part] = m["summary"]
        gone = {str(p.relative_to(self.out)) for p in emptied}
        self.state.files = [f for f in self.state.files if f not in gone]
        return rewritten

    # ---- commit --------------------------------------------------------------------
    def commit(self, rows: list[Row], text_hashes: dict[str, str],
               retried: set[tuple[str, str]] | frozenset = frozenset()) -> list[str]:
        """Atomically record the units (document, prompt) of `rows` as finished; returns the files written
        (the part's, and older parts' files rewritten without retried units). Units in `retried` were
        committed before (dead-lettered) and their old rows are replaced."""
        if not rows:
            return []
        units: dict[tuple[str, str], str] = {}
        for r in sorted(rows, key=lambda r: (r.id, r.prompt, r.sample)):
            units[(r.id, r.prompt)] = units.get((r.id, r.prompt), "") + FATE_CODES[r.status]
        part = self.state.next_part
        by_file: dict[Location, list[Row]] = {}
        for r in rows:
            folder = self.out / FATE_DIRS[r.status] / r.prompt
            by_file.setdefault(folder / f"{self.tag}-part-{part:05d}.parquet", []).append(r)
        where = next(iter(by_file)) if len(by_file) == 1 else f"the part-{part:05d} files of {self.tag} in {self.out}"
        with naming(where):
            storage.write_many({path: storage.table_writer(rows_to_table(group)) for path, group in by_file.items()})
        summary = summarize(rows)
        replaced = {u: self.state.part_of[u] for u in units if u in retried and u in self.state.part_of}
        manifest = {
            "part": part,
            "tag": self.tag,
            "files": sorted(str(p.relative_to(self.out)) for p in by_file),
            "units": [[doc_id, prompt, fates] for (doc_id, prompt), fates in units.items()],
            "text_hashes": text_hashes,
            "summary": summary,
        }
        if replaced:
            manifest["retried"] = [list(u) for u in sorted(replaced)]
        self.guard()  # still the shard's only writer? (a lost lease stops here, before the commit marker)
        with naming(self._manifest(part)):
            storage.write_bytes(self._manifest(part), json.dumps(manifest).encode())
        self.state.next_part = part + 1
        self.state.units.update(units)
        self.state.part_of.update((u, part) for u, fates in units.items() if "f" in fates)
        for u in replaced:
            if "f" not in units[u]:
                self.state.part_of.pop(u, None)
        self.state.text_hashes.update(text_hashes)
        self.state.summaries[part] = summary
        self.state.files.extend(manifest["files"])
        written = list(manifest["files"])
        by_old_part: dict[int, set[tuple[str, str]]] = {}
        for u, old in replaced.items():
            by_old_part.setdefault(old, set()).add(u)
        for old, us in sorted(by_old_part.items()):
            written += self._retire(old, us)
        return written


@contextlib.contextmanager
def naming(path: Location | str) -> Iterator[None]:
    """An OSError while writing `path` (disk full, quota, read-only) becomes a WriteError naming it."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None


def summarize(rows: list[Row]) -> dict:
    counts: Counter = Counter()
    reasons: Counter = Counter()
    tokens: Counter = Counter()
    for r in rows:
        counts[f"{r.prompt}|{r.status}"] += 1
        if r.reason:
            reasons[f"{r.prompt}|{r.status}|{short_reason(r.reason)}"] += 1
        tokens[f"{r.prompt}|prompt_tokens"] += r.prompt_tokens or 0
        tokens[f"{r.prompt}|completion_tokens"] += r.completion_tokens or 0
        if r.status == "ok":
            tokens[f"{r.prompt}|ok_completion_tokens"] += r.completion_tokens or 0
    return {"rows": len(rows), "counts": dict(counts), "reasons": dict(reasons), "tokens": dict(tokens)}


def short_reason(reason: str) -> str:
    """Group reasons for reporting: the text before the first ':' or '(' (details stay in the rows)."""
    for sep in (":", "("):
        head = reason.split(sep, 1)[0].strip()
        if head:
            reason = head
    return reason[:80]
