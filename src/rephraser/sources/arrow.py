"""Arrow IPC files (what `datasets.Dataset.save_to_disk` writes), streamed one record batch at a time.

`save_to_disk` writes the IPC stream format; the IPC file format (Feather v2) is read too. A local
file is memory-mapped (zero copy); a remote one is streamed through `rephraser.storage`. As for
Parquet, a file without the text column is one SourceError, and rows count from 0 within the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.errors import SourceError
from rephraser.sources.files import SourceFile
from rephraser.sources.validate import Checked, Columns, check_record

BATCH_ROWS = 1024


@contextlib.contextmanager
def arrow_batches(src: SourceFile) -> Iterator[tuple[Any, Iterator[Any]]]:
    """(schema, record batches) of one Arrow file."""
    import pyarrow as pa

    with contextlib.ExitStack() as stack:
        try:
            if isinstance(src.path, Path):
                handle = stack.enter_context(pa.memory_map(str(src.path)))
            else:
                handle = stack.enter_context(storage.open_read(src.path))
            try:
                reader = pa.ipc.open_stream(handle)
                batches: Iterator[Any] = iter(reader)
            except pa.ArrowInvalid:
                if not isinstance(src.path, Path):
                    raise
                handle.seek(0)  # the IPC file format (random access): only local files
                file_reader = pa.ipc.open_file(handle)
                reader = file_reader
                batches = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
        except FileNotFoundError:
            raise SourceError(f"source file not found: {src.path}") from None
        except PermissionError:
            raise SourceError(f"cannot read {src.path}: Permission denied") from None
        except (pa.ArrowInvalid, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SourceError(f"{src.path} is not a readable Arrow file ({first})") from None
        yield reader.schema, batches


def read_arrow(src: SourceFile, cols: Columns, max_chars: int) -> Iterator[Checked]:
    import pyarrow as pa

    with arrow_batches(src) as (schema, batches):
        names = schema.names
        if cols.text not in names:
            raise SourceError(f"{src.path} has no column '{cols.text}' (columns: {', '.join(names)})")
        wanted = names
        if cols.metadata is not None:
            keep = [cols.text, *([cols.id] if cols.id else []), *cols.metadata]
            wanted = [n for n in names if n in keep]
        row = 0
        try:
            for batch in batches:
                for start in range(0, batch.num_rows, BATCH_ROWS):
                    piece = batch.slice(start, BATCH_ROWS).select(wanted)
                    for values in piece.to_pylist():
                        yield check_record(values, cols, max_chars, f"{src.path}#{row}", f"{src.name}#{row}")
                        row += 1
        except (pa.ArrowException, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SourceError(f"cannot read {src.path} at row {row}: {first}") from None


def count_arrow_rows(src: SourceFile) -> int:
    with arrow_batches(src) as (_, batches):
        return sum(b.num_rows for b in batches)
