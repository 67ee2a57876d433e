"""Parquet files, streamed one record batch at a time (never loaded whole), one row group after another."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rephraser import storage
from rephraser.sources.columnar import checked_rows, chosen_columns, opening
from rephraser.sources.files import SourceFile
from rephraser.sources.validate import Checked, Columns

BATCH_ROWS = 1024


@contextlib.contextmanager
def opened_parquet(src: SourceFile) -> Iterator[Any]:  # yields a pyarrow.parquet.ParquetFile
    """The file with its footer read; unreadable files are one SourceError naming the file."""
    with contextlib.ExitStack() as stack:
        with opening(src, "Parquet"):
            pf = stack.enter_context(storage.parquet_file(src.path))
        yield pf


def read_parquet(src: SourceFile, cols: Columns, max_chars: int, row_groups: range | None = None) -> Iterator[Checked]:
    """Every row, or only those of `row_groups` (a shard's own; the others are never read)."""
    with opened_parquet(src) as pf:
        wanted = chosen_columns(src, pf.schema_arrow.names, cols)
        groups = row_groups if row_groups is not None else range(pf.num_row_groups)
        first_row = sum(pf.metadata.row_group(g).num_rows for g in range(groups.start))  # rows count within the file
        # One row group at a time: batches never span groups, so a limit that ends inside a group
        # never touches (or decompresses) the next one.
        batches = (b for g in groups for b in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=wanted))
        yield from checked_rows(batches, src, cols, max_chars, first_row)
