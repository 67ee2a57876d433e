"""Shared test fixtures. Tests never touch the network; model tests use the shipped SmolLM2 GGUF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # read-only fixtures; present in CI, never needed by the product

# Keep any library that could reach a hub offline during tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def repo_root() -> Path:
    return REPO

FAKE_SERVER = REPO / "tests" / "fakes" / "openai_server.py"


def spawn_fake(*args: str):
    """Start the fake OpenAI-compatible server (tests/fakes/openai_server.py); return (process, port)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line.split()[1])


@pytest.fixture
def fake_server():
    """Factory: fake_server('--delay-ms', '5') -> base URL; every process is killed afterwards."""
    procs = []

    def start(*args: str) -> str:
        proc, port = spawn_fake(*args)
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)
