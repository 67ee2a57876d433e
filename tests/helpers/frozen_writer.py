"""The frozen-writer scenario (issue 21), on a local folder or an s3:// URL.

Writer A commits a few parts and is frozen with SIGSTOP (a paused VM, a suspended Slurm job, an NFS
stall) for longer than its lease; writer B starts "on another node" (its own UTS namespace, so
another host name: the lease cannot see A's pid and must wait out the lease ttl), takes the shard
over and commits; then A is woken with SIGCONT while B is still at work. A finds out at its next
commit and stops; B finishes. Every (document, prompt) unit must then be committed exactly once, a
rerun must find nothing to do, and every Parquet file anyone can glob must hold each unit once.

No timing is asserted: every step waits for an observable fact (a manifest, a lease record) with a
generous deadline, so a loaded machine only makes it slower.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pyarrow.parquet as pq
import pytest

from helpers import ECHO_PROMPT, write_corpus
from rephraser import manifests, storage
from rephraser.run_folder import iter_rows

TAG = "s00000-of-00001"
CLI = [sys.executable, "-m", "rephraser.cli"]
N_DOCS = 60


def other_node_prefix() -> list[str]:
    """A command prefix that runs a process under another host name, or skip when this machine cannot."""
    for prefix in (["unshare", "--uts"], ["unshare", "--user", "--map-root-user", "--uts"]):
        try:
            ok = subprocess.run([*prefix, "sh", "-c", "hostname rephraser-node-b"], capture_output=True,
                                timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return [*prefix, "sh", "-c", 'hostname rephraser-node-b && exec "$@"', "sh"]
    pytest.skip("cannot start a process under another host name here (unshare --uts needs root or user namespaces)")


def epochs(out: str) -> set[int]:
    names = storage.listdir(f"{out}/manifests/{TAG}")
    return {m.epoch for n in names if (m := manifests.parse_manifest(n))}


def wait_for(cond, what: str, procs: list[subprocess.Popen], timeout: float = 300) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a writer ended while waiting for {what}: {p.returncode} "
                                     f"{p.stderr.read() if p.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def every_parquet_row(out: str) -> list[tuple]:
    keys = []
    for fate in ("data", "rejected", "dead_letter"):
        for f in storage.glob(f"{out}/{fate}", "*/*.parquet"):
            with storage.open_read(f) as fh:
                keys += [(r["id"], r["prompt"], r["sample"]) for r in pq.read_table(fh, columns=["id", "prompt", "sample"]).to_pylist()]
    return keys


def run_frozen_writer_scenario(tmp_path, fake_server, out: str, env: dict[str, str] | None = None) -> None:
    node_b = other_node_prefix()
    url = fake_server("--delay-ms", "1000")
    corpus = write_corpus(tmp_path / "in.jsonl", N_DOCS)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps({
        "source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT], "max_in_flight": 4,
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
        "output": {"dir": out, "rows_per_part": 4, "lease_ttl_s": 6},
    }))
    args = ["run", "--config", str(cfg), "--no-progress", "--lease-wait", "600"]
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    a = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    b = None
    try:
        wait_for(lambda: len(epochs(out)) == 1, "writer A's first commit", [a])
        [epoch_a] = epochs(out)
        os.kill(a.pid, signal.SIGSTOP)
        b = subprocess.Popen([*node_b, *CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
        wait_for(lambda: any(e > epoch_a for e in epochs(out)), "writer B's first commit", [b])
        os.kill(a.pid, signal.SIGCONT)
        _, err_a = a.communicate(timeout=600)
        out_b, err_b = b.communicate(timeout=600)
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait()
    assert a.returncode == 75, err_a  # A stopped at its first commit after waking: it had lost its lease
    assert "\n" not in err_a.strip() and ("lease" in err_a or "newer writer" in err_a), err_a
    assert b.returncode == 0 and "accounting OK" in out_b, err_b

    committed = Counter((r["id"], r["prompt"]) for _, r in iter_rows(out, ["id", "prompt"]))
    assert {k for k, n in committed.items() if n > 1} == set(), "a unit is committed twice"
    assert set(committed) == {(f"doc-{i:05d}", "echo") for i in range(N_DOCS)}, "a unit is missing"

    rerun = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0 and "accounting OK" in rerun.stdout, rerun.stderr
    assert json.loads(storage.read_text(f"{out}/stats/{TAG}.json"))["session"]["units_run"] == 0
    keys = every_parquet_row(out)  # what anyone globbing data/*/*.parquet reads, after the rerun's clean-up
    assert sorted(keys) == sorted(set(keys)) and len(keys) == N_DOCS
    verify = subprocess.run([*CLI, "verify", out, "--checksums"], capture_output=True, text=True, timeout=600, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
