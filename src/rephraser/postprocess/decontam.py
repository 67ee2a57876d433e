"""Benchmark decontamination: n-gram overlap between a dataset and the evaluation suite's items.

Text is normalised to lower-case word tokens (punctuation and spacing ignored) and compared as
word n-grams (default 12, a common choice for this check). The index holds, per task, the n-grams
of every evaluated item (question + gold answer) and of the solved few-shot examples, i.e. exactly
what a model sees at evaluation time. Items shorter than n words cannot match and are counted.

A dataset is a rephraser output folder (its data/ Parquet files), a Parquet file or folder, or JSONL
(.jsonl, .jsonl.gz, .jsonl.zst). `filter_dataset` writes the same files without contaminated rows.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.errors import SourceError
from rephraser.evaluate.suite import resolve_tasks
from rephraser.evaluate.tasks import TaskMissing, load_task

WORD = re.compile(r"\w+")
MAX_EXAMPLES = 5


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[str]:
    w = words(text)
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


@dataclass
class BenchmarkIndex:
    n: int
    owners: dict[str, set[str]] = field(default_factory=dict)  # n-gram -> tasks that contain it
    items_indexed: dict[str, int] = field(default_factory=dict)
    items_too_short: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, task: str, text: str) -> None:
        grams = ngrams(text, self.n)
        self.items_indexed[task] = self.items_indexed.get(task, 0) + 1
        if not grams:
            self.items_too_short[task] = self.items_too_short.get(task, 0) + 1
        for g in grams:
            self.owners.setdefault(g, set()).add(task)


def build_index(n: int = 12, tasks: Sequence[str] | None = None, max_items: int = 1000, seed: int = 1234,
                num_fewshot: int = 3) -> BenchmarkIndex:
    """Index the items the suite evaluates (same selection as `rephraser evaluate` with these settings)."""

    index = BenchmarkIndex(n=n)
    for name in resolve_tasks(tasks):
        try:
            loaded = load_task(name, max_items, seed, num_fewshot)
        except TaskMissing as e:
            index.missing[name] = str(e)
            continue
        for it in loaded.items:
            index.add(name, it.text_for_overlap())
        for shot in loaded.fewshot_texts:
            index.add(name, shot)
    return index


# ---- reading datasets -----------------------------------------------------------------------------

def dataset_files(path: str | Path) -> tuple[Path, list[Path]]:
    """(base that relative output paths start from, files to scan).

    For a rephraser run folder only data/ is scanned, and the base stays the run folder so a filtered
    copy keeps the data/<prompt>/ layout.
    """
    p = Path(path)
    if not p.exists():
        raise SourceError(f"dataset not found: {p}")
    if p.is_file():
        return p.parent, [p]
    root = p / "data" if (p / "data").is_dir() else p  # a rephraser run folder: only status=ok rows
    files = sorted(f for f in root.rglob("*") if f.is_file() and _kind(f))
    if not files:
        raise SourceError(f"no .parquet or .jsonl[.gz|.zst] files under {root}")
    return p, files


def _kind(f: Path) -> str | None:
    name = f.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
        return "jsonl"
    return None


def _open_text(f: Path, mode: str = "rt") -> io.TextIOBase:
    if f.name.endswith(".gz"):
        return gzip.open(f, mode, encoding="utf-8")
    if f.name.endswith(".zst"):
        import zstandard

        raw = f.open(mode[0] + "b")
        stream = (zstandard.ZstdDecompressor().stream_reader(raw) if "r" in mode
                  else zstandard.ZstdCompressor().stream_writer(raw))
        return io.TextIOWrapper(stream, encoding="utf-8")
    return f.open(mode, encoding="utf-8")


def _jsonl_records(f: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(raw line, parsed object or None when the line is not a JSON object)."""
    with _open_text(f) as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            yield line, obj if isinstance(obj, dict) else None


def _file_texts(f: Path, column: str) -> list[tuple[str, str | None]]:
    """(row label, text or None) for every row of one file, in file order."""
    if _kind(f) == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(f)
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from e
        if column not in table.column_names:
            raise SourceError(f"{f} has no column {column!r} (columns: {', '.join(table.column_names)})")
        ids = table.column("id").to_pylist() if "id" in table.column_names else None
        texts = table.column(column).to_pylist()
        return [(str(ids[i]) if ids else f"{f.name}#{i}", t) for i, t in enumerate(texts)]
    out = []
    fields: set[str] = set()
    for i, (_, obj) in enumerate(_jsonl_records(f)):
        text = obj.get(column) if obj else None
        fields.update(obj or ())
        label = str(obj["id"]) if obj and "id" in obj else f"{f.name}:{i + 1}"
        out.append((label, text if isinstance(text, str) else None))
    if fields and column not in fields:  # scanning nothing would report "0 contaminated": say why instead
        raise SourceError(f"{f} has no field {column!r} in any record (fields: {', '.join(sorted(fields)[:12])})")
    return out


def default_column(files: list[Path]) -> str:
    """`generation` for rephraser outputs, `text` for plain data: whichever the first file has."""
    f = files[0]
    if _kind(f) == "parquet":
        import pyarrow.parquet as pq

        try:
            names = set(pq.read_schema(f).names)
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from e
    else:
        names = set()
        for i, (_, obj) in enumerate(_jsonl_records(f)):
            names.update(obj or ())
            if i >= 100:
                break
    for column in ("generation", "text"):
        if column in names:
            return column
    raise SourceError(f"{f} has neither a 'generation' nor a 'text' column (columns: "
                      f"{', '.join(sorted(names)[:12]) or 'none'}); choose one with --column")


# ---- scanning and filtering -----------------------------------------------------------------------

def scan_dataset(path: str | Path, index: BenchmarkIndex, column: str = "generation") -> tuple[dict[str, Any], dict[Path, list[bool]]]:
    """Report overlap per task; also returns, per file, a contaminated flag for each row."""
    root, files = dataset_files(path)
    per_task = {t: {"contaminated_docs": 0, "matching_ngrams": set(), "examples": []} for t in index.items_indexed}
    flags: dict[Path, list[bool]] = {}
    scanned = without_text = contaminated = 0
    for f in files:
        row_flags = []
        for label, text in _file_texts(f, column):
            scanned += 1
            if text is None:
                without_text += 1
                row_flags.append(False)
                continue
            hits: dict[str, set[str]] = {}
            for g in ngrams(text, index.n):
                for task in index.owners.get(g, ()):
                    hits.setdefault(task, set()).add(g)
            row_flags.append(bool(hits))
            contaminated += bool(hits)
            for task, grams in hits.items():
                entry = per_task[task]
                entry["contaminated_docs"] += 1
                entry["matching_ngrams"] |= grams
                if len(entry["examples"]) < MAX_EXAMPLES:
                    entry["examples"].append({"doc": label, "file": str(f.relative_to(root)), "ngram": min(grams)})
        flags[f] = row_flags
    report = {
        "dataset": str(path), "column": column, "ngram": index.n,
        "docs_scanned": scanned, "docs_without_text": without_text, "docs_contaminated": contaminated,
        "tasks": {
            t: {"contaminated_docs": e["contaminated_docs"], "matching_ngrams": len(e["matching_ngrams"]),
                "items_indexed": index.items_indexed.get(t, 0), "items_too_short": index.items_too_short.get(t, 0),
                "examples": e["examples"]}
            for t, e in per_task.items()
        },
        "tasks_missing": dict(index.missing),
    }
    return report, flags


def filter_dataset(path: str | Path, flags: dict[Path, list[bool]], out_dir: str | Path) -> dict[str, int]:
    """Write every scanned file to out_dir (same relative path) without its contaminated rows."""
    root, files = dataset_files(path)
    out = Path(out_dir)
    if Path(path).is_dir() and (out.resolve() == root.resolve() or root.resolve() in out.resolve().parents):
        raise SourceError(f"--filter folder {out} must be outside the dataset {root}")
    if any((out / f.relative_to(root)).resolve() == f.resolve() for f in files):
        raise SourceError(f"--filter folder {out} would overwrite the input files")
    kept = removed = 0
    for f in files:
        row_flags = flags[f]
        target = out / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if _kind(f) == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pq.read_table(f)
            keep = pa.array([not c for c in row_flags], type=pa.bool_())
            pq.write_table(table.filter(keep), target)
        else:
            with _open_text(target, "wt") as dst:
                for (line, _), bad in zip(_jsonl_records(f), row_flags, strict=True):
                    if not bad:
                        dst.write(line if line.endswith("\n") else line + "\n")
        removed += sum(row_flags)
        kept += len(row_flags) - sum(row_flags)
    return {"rows_kept": kept, "rows_removed": removed, "files": len(files)}
