"""What Parquet and Arrow IPC readers share: unreadable files as one error, column choice, checked rows.

A file without the text column cannot hold any document, so it is a SourceError up front rather than
one rejection per row. Row numbers in origins and fallback ids count from 0 within the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from rephraser.errors import SourceError
from rephraser.sources.files import SourceFile
from rephraser.sources.validate import Checked, Columns, check_record


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


@contextlib.contextmanager
def opening(src: SourceFile, what: str) -> Iterator[None]:
    """Failures to open `src` (a `what` file: "Parquet", "Arrow") become one SourceError naming it."""
    import pyarrow as pa

    try:
        yield
    except FileNotFoundError:
        raise SourceError(f"source file not found: {src.path}") from None
    except PermissionError:
        raise SourceError(f"cannot read {src.path}: Permission denied") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise SourceError(f"{src.path} is not a readable {what} file ({_first_line(e)})") from None


def chosen_columns(src: SourceFile, names: list[str], cols: Columns) -> list[str] | None:
    """The columns to read (None = all), after checking the text column is there."""
    if cols.text not in names:
        raise SourceError(f"{src.path} has no column '{cols.text}' (columns: {', '.join(names)})")
    if cols.metadata is None:
        return None
    keep = [cols.text, *([cols.id] if cols.id else []), *cols.metadata]
    return [n for n in names if n in keep]


def checked_rows(batches: Iterable[Any], src: SourceFile, cols: Columns, max_chars: int,
                 first_row: int = 0) -> Iterator[Checked]:
    """Each row of the record batches, validated; a batch that cannot be decoded is one SourceError."""
    import pyarrow as pa

    row = first_row
    shown = src.shown
    try:
        for batch in batches:
            for values in batch.to_pylist():
                yield check_record(values, cols, max_chars, f"{shown}#{row}", f"{src.name}#{row}")
                row += 1
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"cannot read {src.path} at row {row}: {_first_line(e)}") from None
