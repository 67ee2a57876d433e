"""Exactly-once commits: Parquet parts + a manifest written last.

A commit writes every Parquet file of one part atomically (temp file, fsync, rename), then the part's
manifest the same way, then fsyncs the folders. The manifest is the commit marker: a part without a
manifest never happened, and its files are deleted on the next start. A restart reads only manifests
(never the outputs) to learn which (document, prompt) units are finished, so resume cost grows with
the number of parts, not with the bytes already written.

Each shard of a run (`tag` = "s00003-of-00010") has its own manifests folder and file names, so many
workers can commit into one output folder without coordination.

The protocol needs no rename, so it holds on object stores too (rephraser.storage): there every file
is one PUT, visible whole or not at all, and the manifest PUT comes last.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from rephraser import storage
from rephraser.atomic import is_stale_temp
from rephraser.errors import ResumeError
from rephraser.records import FATE_DIRS, Row, rows_to_table
from rephraser.storage import Location

FATE_CODES = {"ok": "o", "rejected": "r", "failed": "f"}
INPUT_PROMPT = "_input"  # pseudo-prompt of records rejected before any model call


def shard_tag(index: int, count: int) -> str:
    return f"s{index:05d}-of-{count:05d}"


@dataclass
class DoneState:
    """Everything a restart needs, read from manifests only."""

    units: dict[tuple[str, str], str] = field(default_factory=dict)  # (doc id, prompt) -> fates, one char per row
    text_hashes: dict[str, str] = field(default_factory=dict)  # doc id -> text hash at generation time
    next_part: int = 0
    parts: list[dict] = field(default_factory=list)  # manifests' summaries, for stats
    files: list[str] = field(default_factory=list)  # committed files (relative to the output folder)


class Checkpoint:
    def __init__(self, out_dir: Location | str, tag: str):
        self.out = storage.as_location(out_dir)
        self.tag = tag
        self.manifest_dir = self.out / "manifests" / tag
        self.state = DoneState()

    # ---- restart -------------------------------------------------------------------
    def load(self) -> DoneState:
        """Read this shard's manifests, delete uncommitted leftovers, return what is done."""
        storage.makedirs(self.manifest_dir)
        committed_files: set[str] = set()
        max_part = -1
        names = [n for n in storage.listdir(self.manifest_dir) if n.startswith("part-") and n.endswith(".json")]
        manifests = [self.manifest_dir / n for n in names]
        try:
            contents = storage.read_many(manifests)  # remote: fetched concurrently, not one round trip each
        except OSError as e:
            raise ResumeError(f"cannot read the manifests in {self.manifest_dir}: {e.strerror or e}") from None
        for mf, raw in zip(manifests, contents, strict=True):
            try:
                m = json.loads(raw)
            except ValueError as e:  # a manifest is written atomically, so this is outside damage
                raise ResumeError(f"manifest {mf} is unreadable ({e}); the output folder was modified by hand") from None
            max_part = max(max_part, int(m["part"]))
            committed_files.update(m["files"])
            for doc_id, prompt, fates in m["units"]:
                if (doc_id, prompt) in self.state.units:  # exactly-once violated: never expected, so say it loudly
                    raise ResumeError(f"unit ({doc_id!r}, {prompt!r}) is committed twice (second time in {mf.name})")
                self.state.units[(doc_id, prompt)] = fates
            self.state.text_hashes.update(m["text_hashes"])
            self.state.parts.append(m["summary"])
        self.state.next_part = max_part + 1
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

    # ---- commit --------------------------------------------------------------------
    def commit(self, rows: list[Row], text_hashes: dict[str, str]) -> list[str]:
        """Atomically record the units (document, prompt) of `rows` as finished; returns the part's files."""
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
        storage.write_many({path: storage.table_writer(rows_to_table(group)) for path, group in by_file.items()})
        summary = summarize(rows)
        manifest = {
            "part": part,
            "tag": self.tag,
            "files": sorted(str(p.relative_to(self.out)) for p in by_file),
            "units": [[doc_id, prompt, fates] for (doc_id, prompt), fates in units.items()],
            "text_hashes": text_hashes,
            "summary": summary,
        }
        storage.write_bytes(self.manifest_dir / f"part-{part:05d}.json", json.dumps(manifest).encode())
        self.state.next_part = part + 1
        self.state.units.update(units)
        self.state.text_hashes.update(text_hashes)
        self.state.parts.append(summary)
        self.state.files.extend(manifest["files"])
        return manifest["files"]


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
