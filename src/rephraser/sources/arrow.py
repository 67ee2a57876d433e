"""Arrow IPC files (what `datasets.Dataset.save_to_disk` writes), streamed one record batch at a time.

`save_to_disk` writes the IPC stream format; the IPC file format (Feather v2) is read too. A local
file is memory-mapped (zero copy); a remote one is streamed through `rephraser.storage`. As for
Parquet (columnar.py), a file without the text column is one SourceError, and rows count from 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.sources.columnar import checked_rows, chosen_columns, opening
from rephraser.sources.files import SourceFile
from rephraser.sources.validate import Checked, Columns

BATCH_ROWS = 1024


@contextlib.contextmanager
def arrow_batches(src: SourceFile) -> Iterator[tuple[Any, Iterator[Any]]]:
    """(schema, record batches) of one Arrow file."""
    import pyarrow as pa

    with contextlib.ExitStack() as stack:
        with opening(src, "Arrow"):
            if isinstance(src.path, Path):
                handle = stack.enter_context(pa.memory_map(str(src.path)))
            else:
                handle = stack.enter_context(storage.open_read(src.path))
            try:
                reader: Any = pa.ipc.open_stream(handle)
                batches: Iterator[Any] = iter(reader)
            except pa.ArrowInvalid:
                if not isinstance(src.path, Path):
                    raise
                handle.seek(0)  # the IPC file format (random access): only local files
                reader = pa.ipc.open_file(handle)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        yield reader.schema, batches


def read_arrow(src: SourceFile, cols: Columns, max_chars: int) -> Iterator[Checked]:
    with arrow_batches(src) as (schema, batches):
        wanted = chosen_columns(src, schema.names, cols)
        pieces = (b.slice(start, BATCH_ROWS) for b in batches for start in range(0, b.num_rows, BATCH_ROWS))
        yield from checked_rows((p.select(wanted) if wanted else p for p in pieces), src, cols, max_chars)


def count_arrow_rows(src: SourceFile) -> int:
    with arrow_batches(src) as (_, batches):
        return sum(b.num_rows for b in batches)
