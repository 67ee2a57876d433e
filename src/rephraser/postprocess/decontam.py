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
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from rephraser import storage
from rephraser.errors import RephraserError, SourceError
from rephraser.evaluate.suite import resolve_tasks
from rephraser.evaluate.tasks import TaskMissing, load_task
from rephraser.run_folder import committed_files
from rephraser.sources.lines import iter_lines
from rephraser.storage import Location

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

def dataset_files(path: storage.PathLike) -> tuple[Location, list[Location]]:
    """(base that relative output paths start from, files to scan); local or a URL (rephraser.storage).

    For a rephraser run folder only data/ is scanned, and the base stays the run folder so a filtered
    copy keeps the data/<prompt>/ layout. Hidden files (temps of a commit in progress) are skipped.
    """
    p = storage.as_location(path)
    if not storage.exists(p):
        raise SourceError(f"dataset not found: {p}")
    if not storage.is_dir(p):
        return p.parent, [p]
    root = p / "data" if storage.is_dir(p / "data") else p  # a rephraser run folder: only status=ok rows
    files = [root / name for name in storage.find(root)
             if _kind(name) and not any(part.startswith(".") for part in name.split("/"))]
    committed = committed_files(p) if root != p else set()  # parts without a manifest are not output yet
    if committed:
        files = [f for f in files if str(f.relative_to(p)) in committed]
    if not files:
        raise SourceError(f"no .parquet or .jsonl[.gz|.zst] files under {root}")
    return p, files


def _kind(name: str | Location) -> str | None:
    name = (name if isinstance(name, str) else name.name).lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
        return "jsonl"
    return None


def _jsonl_records(f: Location) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(raw line, parsed object or None when the line is not a JSON object)."""
    for lineno, raw in iter_lines(f):  # gzip/zstd by magic bytes; a truncated file is an error
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"{f} line {lineno} is not UTF-8") from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        yield line, obj if isinstance(obj, dict) else None


def _read_table(f: Location, columns: list[str] | None = None) -> pa.Table:
    try:
        with storage.parquet_file(f) as pf:
            return pf.read(columns=columns)
    except RephraserError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
        raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from None


def _jsonl_writer(lines: list[str], name: str) -> Callable[[BinaryIO], None]:
    """Fill a file with `lines`, compressed as its name says (.gz, .zst or plain)."""
    data = "".join(line if line.endswith("\n") else line + "\n" for line in lines).encode("utf-8")

    def fill(fh: BinaryIO) -> None:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb") as z:
                z.write(data)
        elif name.endswith(".zst"):
            import zstandard

            fh.write(zstandard.ZstdCompressor().compress(data))
        else:
            fh.write(data)

    return fill


def _file_texts(f: Location, column: str) -> list[tuple[str, str | None]]:
    """(row label, text or None) for every row of one file, in file order."""
    if _kind(f) == "parquet":
        table = _read_table(f)
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


def default_column(files: list[Location]) -> str:
    """`generation` for rephraser outputs, `text` for plain data: whichever the first file has."""
    f = files[0]
    if _kind(f) == "parquet":
        try:
            with storage.parquet_file(f) as pf:
                names = set(pf.schema_arrow.names)
        except RephraserError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from None
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

def scan_dataset(path: storage.PathLike, index: BenchmarkIndex,
                 column: str = "generation") -> tuple[dict[str, Any], dict[Location, list[bool]]]:
    """Report overlap per task; also returns, per file, a contaminated flag for each row."""
    root, files = dataset_files(path)
    per_task = {t: {"contaminated_docs": 0, "matching_ngrams": set(), "examples": []} for t in index.items_indexed}
    flags: dict[Location, list[bool]] = {}
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


def filter_dataset(path: storage.PathLike, flags: dict[Location, list[bool]], out_dir: storage.PathLike) -> dict[str, int]:
    """Write every scanned file to out_dir (same relative path) without its contaminated rows; each file
    is committed whole (rephraser.storage), local or remote."""
    root, files = dataset_files(path)
    out = storage.as_location(out_dir)
    storage.check_writable(out)
    if storage.is_dir(storage.as_location(path)) and _same_or_below(out, root):
        raise SourceError(f"--filter folder {out} must be outside the dataset {root}")
    if any(_same_or_below(out / f.relative_to(root), f) for f in files):
        raise SourceError(f"--filter folder {out} would overwrite the input files")
    kept = removed = 0
    for f in files:
        row_flags = flags[f]
        target = out / f.relative_to(root)
        if _kind(f) == "parquet":
            keep = pa.array([not c for c in row_flags], type=pa.bool_())
            storage.write_table(_read_table(f).filter(keep), target)
        else:
            lines = [line for (line, _), bad in zip(_jsonl_records(f), row_flags, strict=True) if not bad]
            storage.write_with(target, _jsonl_writer(lines, target.name))
        removed += sum(row_flags)
        kept += len(row_flags) - sum(row_flags)
    return {"rows_kept": kept, "rows_removed": removed, "files": len(files)}


def _same_or_below(a: Location, b: Location) -> bool:
    """True when `a` is `b` or lies inside it (local paths resolved; URLs compared as written)."""
    if isinstance(a, Path) and isinstance(b, Path):
        a, b = a.resolve(), b.resolve()
        return a == b or b in a.parents
    return str(a) == str(b) or str(a).startswith(str(b).rstrip("/") + "/")
