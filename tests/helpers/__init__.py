"""Helpers shared by tests of several stages (importable as `helpers`: pytest's pythonpath is tests/).

Small JSONL corpora, the CLI run in a subprocess, reading a run's rows, and the fake OpenAI-compatible
server (tests/fakes/openai_server.py, a real HTTP server on loopback) started as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from rephraser.lease import Holder

ECHO_PROMPT = str(Path(__file__).parent / "echo.yaml")  # a prompt whose output the fake server echoes
FAKE_SERVER = Path(__file__).resolve().parents[1] / "fakes" / "openai_server.py"
# a real single-node Slurm cluster, started as root by the tests' fixture (tests/conftest.py)
SLURM_LOCAL = Path(__file__).resolve().parents[2].parent / "shared" / "tools" / "slurm-local.sh"


# Set by CI (.ci/run through `make test`): a cross-check whose evaluator is missing FAILS instead of skipping,
# because a skipped cross-check would count as a pass.
REQUIRE_CROSSCHECK = "REPHRASER_REQUIRE_CROSSCHECK"


def crosscheck_import(module: str, *, version_prefix: str | None = None):  # noqa: ANN201 - returns a module
    """Import an evaluator a cross-check compares with: skip when it is absent (or of another version) on a
    developer's machine, fail when REPHRASER_REQUIRE_CROSSCHECK=1 (CI) so the check cannot silently vanish."""
    import importlib

    import pytest

    required = os.environ.get(REQUIRE_CROSSCHECK, "") not in ("", "0")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        if required:
            pytest.fail(f"{REQUIRE_CROSSCHECK} is set but {module} cannot be imported ({e}): the cross-check "
                        "cannot run (make install installs it)", pytrace=False)
        pytest.skip(f"{module} is not installed", allow_module_level=True)
    version = getattr(mod, "__version__", "")
    if version_prefix and not version.startswith(version_prefix):
        if required:
            pytest.fail(f"{REQUIRE_CROSSCHECK} is set but {module} is {version}, not {version_prefix}*",
                        pytrace=False)
        pytest.skip(f"the cross-check needs {module} {version_prefix}* (found {version})", allow_module_level=True)
    return mod


def real_slurm_missing() -> str | None:
    """Why the real local Slurm cluster cannot run here, or None when the tests' fixture can start it."""
    if os.geteuid() != 0:
        return "the real local Slurm cluster needs root (../shared/tools/slurm-local.sh starts its daemons)"
    if not SLURM_LOCAL.is_file():
        return f"{SLURM_LOCAL} not found (the local Slurm cluster tool lives in ../shared)"
    return None


def spawn_fake(*args: str) -> tuple[subprocess.Popen, int]:
    """Start the fake OpenAI-compatible server on a free loopback port; return (process, port)."""
    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line.split()[1])


def write_corpus(path: Path, n: int, *, start: int = 0, bad: bool = False) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(start, start + n):
            words = " ".join(f"word{(i * 7 + j) % 97}" for j in range(20 + i % 30))
            f.write(json.dumps({"id": f"doc-{i:05d}", "text": f"Document number {i}. {words}.", "lang": "en"}) + "\n")
        if bad:
            f.write(json.dumps({"id": "empty", "text": "   "}) + "\n")
            f.write(json.dumps({"id": "num", "text": 42}) + "\n")
            f.write("{not json\n")
    return path


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"rephraser {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def fake_run_args(url: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--engine", "openai", "--base-url", url, "--model", "fake-model", "--source", str(corpus),
            "--prompts", ECHO_PROMPT, "--output", str(out), "--no-progress", *extra]


def read_rows(out: Path, folder: str = "data") -> list[dict]:
    files = sorted((out / folder).glob("*/*.parquet"))
    rows: list[dict] = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def all_rows(out: Path) -> list[dict]:
    return read_rows(out, "data") + read_rows(out, "rejected") + read_rows(out, "dead_letter")


def wiki_texts(n: int) -> list[str]:
    """The first n embedded Wikipedia lead extracts (real text, offline)."""
    from rephraser.sources.wiki import wiki_data_path

    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    return [data[k]["extract"] for k in sorted(data)[:n] if data[k].get("extract")]


def lease_holder(out: Path, tag: str = "s00000-of-00001") -> Holder | None:
    """The newest lease record of a shard, or None."""
    folder = out / "leases" / tag
    try:
        records = sorted(f for f in os.listdir(folder) if f.endswith(".json") and not f.startswith("."))
        return Holder.from_bytes((folder / records[-1]).read_bytes()) if records else None
    except (OSError, IndexError):
        return None


def wait_for(condition, timeout: float = 180, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`rephraser ARGS` in this process: (exit code, stdout, stderr), as piped output reads (plain, not folded)."""
    from rephraser.cli import main

    monkeypatch.setattr(sys, "argv", ["rephraser", *args])
    monkeypatch.delenv("COLUMNS", raising=False)
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
