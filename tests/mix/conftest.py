"""Fixtures for mixing/tokenization tests: small rephraser output folders and source files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.records import Row, rows_to_table


def make_run_folder(root: Path, prompt: str, n_ok: int, extra_bad: bool = True) -> Path:
    """A minimal rephraser output folder: data/<prompt>/ parts holding status=ok rows of varied length."""
    rows = []
    for i in range(n_ok):
        body = " ".join(f"{prompt}-word{(i * 7 + k) % 31}" for k in range(5 + (i * 13) % 40))
        rows.append(Row(id=f"doc{i}", prompt=prompt, status="ok", generation=f"{prompt} {i}: {body}."))
    if extra_bad:  # rows that must never reach a mixture
        rows.append(Row(id="docX", prompt=prompt, status="ok", generation=""))
        rows.append(Row(id="docY", prompt=prompt, status="rejected", generation="bad", reason="too short"))
    folder = root / "data" / prompt
    folder.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    tag = "s00000-of-00001"
    pq.write_table(rows_to_table(rows[:half]), folder / f"{tag}-part-00000.parquet")
    pq.write_table(rows_to_table(rows[half:]), folder / f"{tag}-part-00001.parquet")
    (root / "manifests").mkdir(exist_ok=True)
    return root


def write_jsonl(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": f"src{i}", "text": t}) + "\n")
    return path


@pytest.fixture
def run_folder():
    """Factory: run_folder(root, prompt, n_ok) builds (or adds a prompt to) an output folder."""
    return make_run_folder


@pytest.fixture
def run_table(tmp_path: Path) -> Path:
    return make_run_folder(tmp_path / "run_table", "table", 60)


@pytest.fixture
def source_jsonl(tmp_path: Path) -> Path:
    texts = [f"Original web document number {i}. " + "It talks about rivers and hills. " * (1 + i % 9) for i in range(40)]
    return write_jsonl(tmp_path / "web.jsonl", texts)
