"""Fixtures for scale-out tests: the fake OpenAI-compatible server and a small JSONL input."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import spawn_fake

TEXT = ("the river flows north through a wide valley where farmers grow wheat barley and oats "
        "near its banks during the short summer while merchants carry grain to distant towns")
WORDS = TEXT.split()


@pytest.fixture
def fake_server() -> Iterator[Callable[..., str]]:
    """Start fake servers on 127.0.0.1; returns their /v1 base URL. Killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        proc, port = spawn_fake(*args)
        procs.append(proc)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for p in procs:
        p.kill()
        p.wait()


def write_docs(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 120)))
            f.write(json.dumps({"id": f"doc{i}", "text": text}) + "\n")
    return path


def run_yaml(path: Path, docs: Path, base_url: str, out: Path, *, in_flight: int = 8, rows_per_part: int = 20,
             prompts: str = "faq") -> Path:
    path.write_text(
        f"source: {{path: '{docs}'}}\nprompts: [{prompts}]\n"
        f"engine: {{kind: openai, base_url: '{base_url}', model: fake-model}}\n"
        f"sampling: {{max_tokens: 64}}\noutput: {{dir: '{out}', rows_per_part: {rows_per_part}}}\n"
        f"max_in_flight: {in_flight}\n"
    )
    return path


def ids_by_fate(out: Path) -> dict[str, list[str]]:
    """Every (id|prompt) found in the output Parquet files, per fate folder (duplicates kept)."""
    import pyarrow.parquet as pq

    fates: dict[str, list[str]] = {}
    for fate in ("data", "rejected", "dead_letter"):
        keys: list[str] = []
        for f in sorted((out / fate).glob("*/*.parquet")):
            t = pq.read_table(f, columns=["id", "prompt", "sample"])
            cols = [t.column(c).to_pylist() for c in ("id", "prompt", "sample")]
            keys += [f"{i}|{p}|{s}" for i, p, s in zip(*cols, strict=True)]
        fates[fate] = keys
    return fates
