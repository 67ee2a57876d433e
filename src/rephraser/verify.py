"""`rephraser verify OUT`: is a run folder whole? (Ground floor, beside run_folder.py.)

Checked against what each manifest recorded at commit (`file_checks`: rows, bytes, SHA-256):
- every file an accepted manifest names exists, with its size (one listing) and row count (each
  Parquet footer: one small read per file); with `checksums`, every byte (SHA-256);
- no (document, prompt) unit is committed by two manifests (of any shard);
- conservation: each file holds as many rows as its manifest's units say, and a shard whose stats
  say it is complete has exactly the rows its stats expect.
Files in data/, rejected/, dead_letter/ that no accepted manifest names are reported as stray (an
unfinished part, or the late write of a writer that lost its lease): no reader takes them, and the
next start of their shard deletes them; globbing `data/*/*.parquet` would.

Readers (stats, card, push, mix, decontam, a resume) do the cheap part of this on every open
(`run_folder.committed_files`): a missing or resized committed file is refused with one line.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from rephraser import storage
from rephraser.records import FATE_DIRS
from rephraser.run_folder import STATS_JSON, check_output_folder, committed_manifests

_CODE = {"data": "o", "rejected": "r", "dead_letter": "f"}


@dataclass
class VerifyReport:
    path: storage.Location
    checksums: bool
    files: int = 0
    rows: int = 0
    units: int = 0
    problems: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    data_files: list[str] = field(default_factory=list)  # committed files under data/ (what to load)
    unmanaged: bool = False  # no manifests at all (a `clean` copy): every file is output, nothing to check against

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_folder(out_dir: storage.PathLike, *, checksums: bool = False) -> VerifyReport:
    out = check_output_folder(out_dir)
    report = VerifyReport(path=out, checksums=checksums)
    mans = committed_manifests(out)
    present = {f"{d}/{n}": size for d in FATE_DIRS.values() for n, size in storage.find_sizes(out / d).items()}
    owner: dict[tuple[str, str], str] = {}
    committed: set[str] = set()
    rows_by_tag: Counter = Counter()
    for name, m in sorted(mans.items()):
        tag = name.split("/", 1)[0]
        expected: Counter = Counter()  # file folder (fate dir/prompt) -> rows its units say it holds
        for doc_id, prompt, fates in m.get("units", []):
            unit = (doc_id, prompt)
            if unit in owner:
                report.problems.append(f"unit ({doc_id!r}, {prompt!r}) is committed twice: manifests/{owner[unit]} "
                                       f"and manifests/{name}")
            owner[unit] = name
            for fate_dir, code in _CODE.items():
                expected[f"{fate_dir}/{prompt}"] += fates.count(code)
            rows_by_tag[tag] += len(fates)
        checks = m.get("file_checks") or {}
        for rel in m.get("files", []):
            committed.add(rel)
            report.files += 1
            problem = _check_file(out, rel, present, checks.get(rel), expected, checksums, report)
            if problem:
                report.problems.append(f"{out / rel} {problem} (manifests/{name})")
    report.units = len(owner)
    visible = sorted(rel for rel in present if not rel.rsplit("/", 1)[-1].startswith("."))
    if not mans:  # a folder without manifests (`rephraser clean` writes one): its files are its output
        report.unmanaged = True
        committed = set(visible)
    report.data_files = sorted(f for f in committed if f.startswith(f"{FATE_DIRS['ok']}/"))
    report.stray = [rel for rel in visible if rel not in committed]
    _conservation(out, rows_by_tag, report)
    return report


def _check_file(out, rel: str, present: dict[str, int], check: dict | None, expected: Counter, checksums: bool,
                report: VerifyReport) -> str | None:
    if rel not in present:
        return "is missing"
    if check and present[rel] != check.get("bytes", present[rel]):
        return f"has {present[rel]} bytes, {check['bytes']} were committed"
    try:
        with storage.parquet_file(out / rel) as pf:
            n = pf.metadata.num_rows
    except (OSError, pa.ArrowException) as e:
        return f"is unreadable ({str(e).splitlines()[0]})"
    report.rows += n
    folder = rel.rsplit("/", 1)[0]
    if check and n != check.get("rows", n):
        return f"has {n} rows, {check['rows']} were committed"
    if n != expected[folder]:
        return f"has {n} rows, its manifest's units account for {expected[folder]}"
    if checksums and check and "sha256" in check:
        digest = hashlib.sha256(storage.read_bytes(out / rel)).hexdigest()
        if digest != check["sha256"]:
            return "does not match the checksum recorded at commit (its content changed)"
    return None


def _conservation(out, rows_by_tag: Counter, report: VerifyReport) -> None:
    """A shard whose stats say complete must hold exactly the rows those stats expect."""
    stats_dir = out / "stats"
    for name in storage.listdir(stats_dir):
        if not name.endswith(".json") or name == STATS_JSON:
            continue
        try:
            s = json.loads(storage.read_text(stats_dir / name))
            complete, expected = bool(s.get("complete")), int(s["rows"]["expected"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # stats of an older version or a shard in progress: nothing recorded to compare
        tag = name[: -len(".json")]
        if complete and rows_by_tag[tag] < expected:  # more is fine: an earlier session had a larger --limit
            report.problems.append(f"shard {tag}: {rows_by_tag[tag]} rows committed, its stats expect {expected} "
                                   "(conservation)")
