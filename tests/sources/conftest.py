"""A `corpus` fixture that writes small source files into tmp_path and reads them back."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from rephraser.config import SourceConfig
from rephraser.records import Document, Rejection
from rephraser.sources import iter_source


class Corpus:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @staticmethod
    def jsonl_bytes(records: list[Any]) -> bytes:
        return b"".join(json.dumps(r).encode() + b"\n" for r in records)

    def raw(self, name: str, payload: bytes) -> Path:
        p = self.path(name)
        p.write_bytes(payload)
        return p

    def jsonl(self, name: str, records: list[Any]) -> Path:
        return self.raw(name, self.jsonl_bytes(records))

    def gz(self, name: str, records: list[Any]) -> Path:
        return self.raw(name, gzip.compress(self.jsonl_bytes(records)))

    def zst(self, name: str, records: list[Any], frames: int = 1) -> Path:
        import zstandard

        payload = self.jsonl_bytes(records)
        step = max(1, -(-len(payload) // frames))
        parts = [payload[i : i + step] for i in range(0, len(payload), step)]
        return self.raw(name, b"".join(zstandard.ZstdCompressor().compress(p) for p in parts))

    def parquet(self, name: str, columns: dict[str, Any], row_group_size: int | None = None) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = columns if isinstance(columns, pa.Table) else pa.table(columns)
        p = self.path(name)
        pq.write_table(table, p, row_group_size=row_group_size)
        return p

    @staticmethod
    def read(path: Path | str | None = None, **cfg: Any) -> list[Document | Rejection]:
        return list(iter_source(SourceConfig(path=None if path is None else str(path), **cfg)))


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return Corpus(tmp_path)
