"""Rows on their way to the mixture's output parts: in memory up to a byte budget, on disk beyond it.

The mixture's final order is a seeded shuffle of all picked rows, so the rows of one output part come
from anywhere in the inputs. Each row carries its output position; rows are bucketed by the part
that position falls in. While the buffered rows stay under the budget nothing touches the disk; past
it, the buffer is sorted by part and each part's rows are appended to that part's spill file (a
sequence of length-prefixed Arrow IPC streams). A part is then read back whole, sorted by position
and written. Memory stays near budget + one output part, whatever the size of the inputs.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rephraser.errors import RephraserError

_LEN = struct.Struct("<Q")


class PartBuckets:
    def __init__(self, folder: Path, rows_per_part: int, budget_bytes: int):
        self.folder = folder
        self.rows_per_part = rows_per_part
        self.budget = budget_bytes
        self.pending: list[pa.Table] = []
        self.pending_bytes = 0
        self.spilled_bytes = 0
        self._in_memory: dict[int, pa.Table] | None = None

    def add(self, table: pa.Table) -> None:
        """Rows with an int64 `pos` column (their output position) and any other columns."""
        if table.num_rows == 0:
            return
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        if self.pending_bytes > self.budget:
            self._flush()

    def _by_part(self) -> dict[int, pa.Table]:
        """The pending rows split by output part (and the buffer emptied)."""
        if not self.pending:
            return {}
        table = pa.concat_tables(self.pending)
        self.pending, self.pending_bytes = [], 0
        parts = table.column("pos").to_numpy() // self.rows_per_part
        order = np.argsort(parts, kind="stable")
        table, parts = table.take(order), parts[order]
        keys, starts = np.unique(parts, return_index=True)
        ends = [*starts[1:], len(parts)]
        return {int(k): table.slice(int(s), int(e - s)) for k, s, e in zip(keys, starts, ends, strict=True)}

    def _flush(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for part, rows in self._by_part().items():
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows)
            blob = sink.getvalue()
            with open(self._spill_path(part), "ab") as fh:
                fh.write(_LEN.pack(blob.size))
                fh.write(blob)
            self.spilled_bytes += blob.size

    def _spill_path(self, part: int) -> Path:
        return self.folder / f"part-{part:05d}.spill"

    def take_part(self, part: int, expected_rows: int) -> pa.Table:
        """All rows of one part, sorted by position; its spill file is removed."""
        if self._in_memory is None:
            self._in_memory = self._by_part()
        pieces = []
        path = self._spill_path(part)
        if path.exists():
            data = path.read_bytes()
            at = 0
            while at < len(data):
                (size,) = _LEN.unpack_from(data, at)
                at += _LEN.size
                pieces.append(pa.ipc.open_stream(pa.py_buffer(data[at : at + size])).read_all())
                at += size
            path.unlink()
        if part in self._in_memory:
            pieces.append(self._in_memory.pop(part))
        if not pieces:
            raise RephraserError(f"internal error: mixture part {part} received no rows")
        table = pa.concat_tables(pieces)
        table = table.take(pc.sort_indices(table.column("pos")))
        first = part * self.rows_per_part
        if table.num_rows != expected_rows or not np.array_equal(
            table.column("pos").to_numpy(), np.arange(first, first + expected_rows)
        ):
            raise RephraserError(f"internal error: mixture part {part} holds the wrong rows")
        return table
