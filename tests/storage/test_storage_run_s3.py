"""A run that reads s3:// and writes s3:// (moto on loopback, the fake OpenAI server), killed with
SIGKILL mid-run several times and resumed, the last time as if on another node (empty local cache):
every document ends exactly once, rows equal those of an uninterrupted run, no uncommitted object is
left, the other node lost only cache hits, and the credentials appear in no output."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from helpers import ECHO_PROMPT, cli, write_corpus
from rephraser import storage

N_DOCS = 150
LIVES = 3  # killed with SIGKILL mid-run this many times, then resumed on "another node"


def _run_args(url: str, source: str, out: str) -> list[str]:
    return ["run", "--engine", "openai", "--base-url", url, "--model", "fake-model", "--source", source,
            "--prompts", ECHO_PROMPT, "--output", out, "--no-progress", "--max-in-flight", "8",
            "--rows-per-part", "7", "--max-tokens", "48"]


def _rows(out: str) -> list[dict]:
    rows: list[dict] = []
    for fate in ("data", "rejected", "dead_letter"):
        for f in storage.glob(f"{out}/{fate}", "*/*.parquet"):
            with storage.open_read(f) as fh:
                rows.extend(pq.read_table(fh).to_pylist())
    return rows


def test_s3_to_s3_run_killed_and_resumed_is_exactly_once(s3, s3_credentials, tmp_path, fake_server, monkeypatch):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "node-local"))
    url = fake_server("--delay-ms", "150")
    corpus = write_corpus(tmp_path / "in.jsonl", N_DOCS, bad=True)
    source = f"{s3}/input/corpus.jsonl"
    storage.write_bytes(source, corpus.read_bytes())

    reference = tmp_path / "reference"  # same remote input, local output, never interrupted
    cli(*_run_args(url, source, str(reference)), timeout=300)

    out = f"{s3}/runs/crashy"
    args = _run_args(url, source, out)
    rng = random.Random(7)
    manifests = f"{out}/manifests/s00000-of-00001"
    kills = 0
    for _ in range(LIVES):  # each life commits a few more parts, then is killed at a random moment
        before = len(storage.listdir(manifests))
        p = subprocess.Popen([sys.executable, "-m", "rephraser.cli", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while len(storage.listdir(manifests)) < before + 3 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills == LIVES, "a run finished before it could be killed mid-run"
    # The last resume runs as if on another node: its local cache folder is empty.
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "other-node"))
    final = cli(*args, timeout=300)
    session = json.loads(storage.read_text(f"{out}/stats/s00000-of-00001.json"))["session"]
    assert session["cache_hits"] == 0 and session["units_done_before"] > 0  # it lost cache hits only
    assert session["engine_calls"] == session["units_run"]  # each unit not yet committed is generated once

    rows = _rows(out)
    keys = [(r["id"], r["prompt"], r["sample"]) for r in rows]
    assert len(keys) == len(set(keys)), "a unit was written twice"
    assert len(rows) == N_DOCS + 3
    ref = {(r["id"], r["prompt"], r["sample"]): r for r in _rows(str(reference))}
    assert set(ref) == set(keys)
    for r in rows:
        assert r == ref[(r["id"], r["prompt"], r["sample"])], f"row {r['id']} differs from the reference run"

    # Only committed objects remain: every part file is named by a manifest.
    committed = set()
    for m in storage.glob(f"{out}/manifests", "*/part-*.json"):
        committed.update(json.loads(storage.read_text(m))["files"])
    parts = {str(p.relative_to(storage.as_location(out))) for fate in ("data", "rejected", "dead_letter")
             for p in storage.glob(f"{out}/{fate}", "*/*")}
    assert parts == committed
    # The request cache lived on the node's disk, not in the bucket.
    assert not storage.glob(out, "cache/*")
    for node in ("node-local", "other-node"):
        assert list((tmp_path / node / "remote").glob("crashy-*/cache/*.sqlite"))

    # Credentials from the environment appear in no output object, no log line, no cache file.
    texts = [final.stdout, final.stderr]
    for name in storage.find(out):
        texts.append(storage.read_bytes(f"{out}/{name}").decode("utf-8", "replace"))
    for f in [*(tmp_path / "node-local").rglob("*"), *(tmp_path / "other-node").rglob("*")]:
        if f.is_file():
            texts.append(f.read_bytes().decode("utf-8", "replace"))
    for secret in s3_credentials:
        assert not any(secret in t for t in texts), f"{secret[:6]}… leaked into an output"
    assert {"config.yaml", "run.json", "stats.json"} <= set(storage.listdir(out))
