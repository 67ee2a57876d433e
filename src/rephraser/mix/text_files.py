"""Reading plain training text from Parquet / JSONL files or folders (mix outputs, any corpus).

Used by `rephraser tokenize`: it needs only a text column, in a stable order (sorted file names,
rows in file order), so the same input always yields the same shards.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rephraser import storage
from rephraser.errors import RephraserError, SourceError
from rephraser.storage import Location

TEXT_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")


def list_text_files(path: str | Path) -> list[Location]:
    p = storage.as_location(path)
    if not storage.is_dir(p):
        if storage.exists(p):
            return [p]
        raise SourceError(f"input not found: {p}")
    # A mix output folder keeps its rows under data/; prefer it so manifests etc. are not read.
    root = p / "data" if storage.is_dir(p / "data") else p
    files = [root / name for name in storage.find(root) if name.endswith(TEXT_SUFFIXES)]
    if not files:
        raise SourceError(f"no {', '.join(TEXT_SUFFIXES)} files under {root}")
    return files


def iter_texts(path: str | Path, column: str = "text", batch_rows: int = 4096) -> Iterator[str]:
    """Yield the `column` values of every file under path; a missing column is a SourceError."""
    for f in list_text_files(path):
        if f.name.endswith(".parquet"):
            yield from _parquet_texts(f, column, batch_rows)
        else:
            yield from _jsonl_texts(f, column)


def _parquet_texts(f: Location, column: str, batch_rows: int) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            pf = stack.enter_context(storage.parquet_file(f))
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            if isinstance(e, RephraserError):
                raise
            raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from None
        if column not in pf.schema_arrow.names:
            raise SourceError(f"{f} has no column {column!r} (columns: {', '.join(pf.schema_arrow.names)})")
        for batch in pf.iter_batches(batch_size=batch_rows, columns=[column]):
            for value in batch.column(0).to_pylist():
                if value is not None:
                    yield str(value)


def _decoded(raw: BinaryIO, name: str) -> io.TextIOBase:
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8")
    if name.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


def _jsonl_texts(f: Location, column: str) -> Iterator[str]:
    with storage.open_read(f) as raw, _decoded(raw, f.name) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(f"{f}:{n}: invalid JSON ({e.msg})") from None
            if not isinstance(record, dict) or column not in record:
                raise SourceError(f"{f}:{n}: record has no {column!r} field")
            if record[column] is not None:
                yield str(record[column])
