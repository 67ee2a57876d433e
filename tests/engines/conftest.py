"""Fixtures for engine tests: a fake OpenAI server process on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FAKE_SERVER = Path(__file__).resolve().parents[1] / "fakes" / "openai_server.py"


def spawn_fake(*args: str) -> tuple[subprocess.Popen, int]:
    """Start the fake server and return (process, port) once it listens."""
    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line.split()[1])


@pytest.fixture
def fake_server() -> Iterator[Callable[..., str]]:
    """Factory: fake_server('--delay-ms', '5') -> base URL; every process is killed afterwards."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        proc, port = spawn_fake(*args)
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)
