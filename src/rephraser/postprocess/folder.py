"""Read a run output folder (data/, rejected/, dead_letter/) without loading it whole.

Every Parquet part is read batch by batch with only the columns a caller asks for, so statistics over
a large run stay within a few batches of memory. Hidden files (temp files of an in-progress commit)
are skipped: only committed parts count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rephraser.errors import RephraserError
from rephraser.records import FATE_DIRS as STATUS_DIRS  # kept name: the post-processing code says "status"
from rephraser.records import OPTIONAL_COLUMNS, ROW_COLUMNS, ROW_SCHEMA

# status -> folder name, in the order fates are reported
BATCH_ROWS = 2048


class OutputFolderError(RephraserError):
    """The folder is missing, is not a rephraser run output, or holds an unreadable part."""


@dataclass(frozen=True)
class PartFile:
    status: str  # ok | rejected | failed (from the folder it lies in)
    prompt: str  # the prompt folder name
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def check_output_folder(out_dir: str | Path) -> Path:
    """The folder as a Path, or a one-line error when it is not a rephraser run output."""
    p = Path(out_dir)
    if not p.exists():
        raise OutputFolderError(f"output folder not found: {p}")
    if not p.is_dir():
        raise OutputFolderError(f"not a folder: {p}")
    markers = [p / d for d in STATUS_DIRS.values()] + [p / "manifests", p / "config.yaml"]
    if not any(m.exists() for m in markers):
        raise OutputFolderError(f"{p} is not a rephraser output folder (no data/, rejected/, dead_letter/ or config.yaml)")
    return p


def list_parts(out_dir: str | Path, statuses: Iterable[str] = tuple(STATUS_DIRS)) -> list[PartFile]:
    """Committed Parquet parts, sorted by (status, prompt, file name) for deterministic order."""
    root = check_output_folder(out_dir)
    parts: list[PartFile] = []
    for status in statuses:
        if status not in STATUS_DIRS:
            raise ValueError(f"unknown status {status!r}")
        base = root / STATUS_DIRS[status]
        if not base.is_dir():
            continue
        for prompt_dir in sorted(x for x in base.iterdir() if x.is_dir() and not x.name.startswith(".")):
            for f in sorted(prompt_dir.glob("*.parquet")):
                if not f.name.startswith("."):
                    parts.append(PartFile(status=status, prompt=prompt_dir.name, path=f))
    return parts


def _check_columns(columns: Iterable[str]) -> list[str]:
    cols = list(columns)
    unknown = [c for c in cols if c not in ROW_COLUMNS]
    if unknown:
        raise ValueError(f"unknown row columns: {unknown}")
    return cols


def iter_batches(part: PartFile, columns: Iterable[str]) -> Iterator[pa.RecordBatch]:
    cols = _check_columns(columns)
    try:
        pf = pq.ParquetFile(part.path)
        present = set(pf.schema_arrow.names)
        missing = [c for c in cols if c not in present and c not in OPTIONAL_COLUMNS]
        if missing:
            raise OutputFolderError(f"{part.path}: missing columns {missing} (not a rephraser row file)")
        absent = [c for c in cols if c not in present]
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[c for c in cols if c in present]):
            yield _with_nulls(batch, absent) if absent else batch
    except (OSError, pa.ArrowException) as e:
        raise OutputFolderError(f"cannot read {part.path}: {str(e).splitlines()[0]}") from None


def iter_rows(
    out_dir: str | Path,
    columns: Iterable[str],
    statuses: Iterable[str] = tuple(STATUS_DIRS),
) -> Iterator[tuple[PartFile, dict[str, Any]]]:
    """(part, row dict with only `columns`) for every committed row, streaming."""
    cols = _check_columns(columns)
    for part in list_parts(out_dir, statuses):
        for batch in iter_batches(part, cols):
            yield from ((part, row) for row in batch.to_pylist())


def read_part(part: PartFile) -> pa.Table:
    """One whole part with every row column (parts are bounded by rows_per_part)."""
    try:
        table = pq.read_table(part.path)
    except (OSError, pa.ArrowException) as e:
        raise OutputFolderError(f"cannot read {part.path}: {str(e).splitlines()[0]}") from None
    missing = [c for c in ROW_COLUMNS if c not in table.column_names and c not in OPTIONAL_COLUMNS]
    if missing:
        raise OutputFolderError(f"{part.path}: missing columns {missing} (not a rephraser row file)")
    for c in ROW_COLUMNS:
        if c not in table.column_names:  # a file written before the column existed
            table = table.append_column(ROW_SCHEMA.field(c), pa.nulls(len(table), ROW_SCHEMA.field(c).type))
    return table.select(list(ROW_COLUMNS))


def _with_nulls(batch: pa.RecordBatch, absent: list[str]) -> pa.RecordBatch:
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for c in absent:
        arrays.append(pa.nulls(batch.num_rows, ROW_SCHEMA.field(c).type))
        names.append(c)
    return pa.RecordBatch.from_arrays(arrays, names=names)
