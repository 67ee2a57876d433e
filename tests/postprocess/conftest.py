"""Builders for synthetic run output folders (the COMMON.md layout) used by the stats/dedup/clean tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.records import Row, rows_to_table

DIRS = {"ok": "data", "rejected": "rejected", "failed": "dead_letter"}
TAG = "s00000-of-00001"


def write_run(out: Path, rows: list[Row], *, part: int = 0, config: str | None = "prompts: [faq]\n") -> Path:
    """Write rows into <out>/<data|rejected|dead_letter>/<prompt>/<tag>-part-NNNNN.parquet by status."""
    out.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (out / "config.yaml").write_text(config, encoding="utf-8")
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((DIRS[r.status], r.prompt), []).append(r)
    for (d, prompt), rs in groups.items():
        folder = out / d / prompt
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows_to_table(rs), folder / f"{TAG}-part-{part:05d}.parquet")
    return out


def row(id: str, prompt: str = "faq", status: str = "ok", gen: str | None = "", **kw) -> Row:
    """A row with sensible lineage; `gen` fills both generation and raw_generation unless given."""
    kw.setdefault("source_text", "x" * 100)
    kw.setdefault("model", "smollm2-135m")
    kw.setdefault("finish_reason", "stop")
    kw.setdefault("raw_generation", gen)
    return Row(id=id, prompt=prompt, status=status, generation=gen, **kw)  # type: ignore[arg-type]


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def _make(rows: list[Row], name: str = "run", **kw) -> Path:
        return write_run(tmp_path / name, rows, **kw)

    return _make


@pytest.fixture
def mkrow() -> Callable[..., Row]:
    return row
