"""Atomic file writes: readers (and restarts after kill -9) see a whole file or none.

Write to a hidden temp file in the same folder, fsync it, rename it over the target, then fsync the
folder so the rename itself survives a power loss. Every stage that publishes files uses these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(dest: Path, write: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> Path:
    """`write(f)` fills a temp file that then replaces `dest`. sync_dir=False lets callers that write
    many files into one folder fsync the folder once at the end."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    if sync_dir:
        fsync_dir(dest.parent)
    return dest


def atomic_write_bytes(dest: Path, data: bytes, *, sync_dir: bool = True) -> Path:
    return atomic_write(dest, lambda f: f.write(data), sync_dir=sync_dir)


def atomic_write_text(dest: Path, text: str) -> Path:
    return atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: Path, obj: Any, *, indent: int | None = 2) -> Path:
    return atomic_write_bytes(dest, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def atomic_write_table(table: pa.Table, dest: Path, *, compression: str = "zstd", sync_dir: bool = True) -> Path:
    return atomic_write(dest, lambda f: pq.write_table(table, f, compression=compression), sync_dir=sync_dir)
