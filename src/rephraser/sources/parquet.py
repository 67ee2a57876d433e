"""Parquet files, streamed one record batch at a time (never loaded whole).

A file without the text column cannot hold any document, so it is a SourceError up front rather
than one rejection per row. Row numbers in origins and fallback ids count from 0 within the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rephraser import storage
from rephraser.errors import SourceError
from rephraser.sources.files import SourceFile
from rephraser.sources.validate import Checked, Columns, check_record

BATCH_ROWS = 1024


@contextlib.contextmanager
def opened_parquet(src: SourceFile) -> Iterator[Any]:  # yields a pyarrow.parquet.ParquetFile
    """The file with its footer read; unreadable files are one SourceError naming the file."""
    import pyarrow as pa

    with contextlib.ExitStack() as stack:
        try:
            pf = stack.enter_context(storage.parquet_file(src.path))
        except FileNotFoundError:
            raise SourceError(f"source file not found: {src.path}") from None
        except PermissionError:
            raise SourceError(f"cannot read {src.path}: Permission denied") from None
        except (pa.ArrowInvalid, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SourceError(f"{src.path} is not a readable Parquet file ({first})") from None
        yield pf


def read_parquet(src: SourceFile, cols: Columns, max_chars: int, row_groups: range | None = None) -> Iterator[Checked]:
    """Every row, or only those of `row_groups` (a shard's own; the others are never read)."""
    with opened_parquet(src) as pf:
        yield from _rows(pf, src, cols, max_chars, row_groups)


def _rows(pf: Any, src: SourceFile, cols: Columns, max_chars: int, row_groups: range | None) -> Iterator[Checked]:
    import pyarrow as pa

    names = pf.schema_arrow.names
    if cols.text not in names:
        raise SourceError(f"{src.path} has no column '{cols.text}' (columns: {', '.join(names)})")
    wanted = None
    if cols.metadata is not None:
        keep = [cols.text, *([cols.id] if cols.id else []), *cols.metadata]
        wanted = [n for n in names if n in keep]
    groups = row_groups if row_groups is not None else range(pf.num_row_groups)
    row = sum(pf.metadata.row_group(g).num_rows for g in range(groups.start))  # rows count within the file
    try:
        # One row group at a time: batches never span groups, so a limit that ends inside a group
        # never touches (or decompresses) the next one.
        for group in groups:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group], columns=wanted):
                for values in batch.to_pylist():
                    yield check_record(values, cols, max_chars, f"{src.path}#{row}", f"{src.name}#{row}")
                    row += 1
    except (pa.ArrowException, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SourceError(f"cannot read {src.path} at row {row}: {first}") from None
