"""One writer per output folder and shard, with real processes against a loopback server: a second run
is refused (exit 75, holder named), a kill -9'd writer's lease is taken over, a storm of requeued starts
never damages the live writer, and --overwrite never leaves a folder that cannot be used again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from helpers import ECHO_PROMPT, all_rows, cli, fake_run_args, lease_holder, wait_for, write_corpus

TAG = "s00000-of-00001"
CLI = [sys.executable, "-m", "rephraser.cli"]


def control(url: str, **changes) -> None:
    httpx.post(f"{url}/control", json=changes, timeout=30)


def committed_parts(out: Path) -> int:
    return len(list((out / "manifests" / TAG).glob("part-*.json"))) if (out / "manifests" / TAG).is_dir() else 0


def assert_exactly_once(out: Path, n_docs: int) -> None:
    keys = [(r["id"], r["prompt"], r["sample"]) for r in all_rows(out)]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes, f"written twice: {dupes[:3]}"
    assert {k[0] for k in keys} == {f"doc-{i:05d}" for i in range(n_docs)}
    for mf in (out / "manifests").glob("*/part-*.json"):  # nothing a manifest names was deleted
        for rel in json.loads(mf.read_text())["files"]:
            assert (out / rel).exists(), f"{rel} (named by {mf.name}) is gone"


def test_a_second_run_on_a_busy_folder_is_refused_naming_the_holder(tmp_path, fake_server):
    url = fake_server("--delay-ms", "600000")  # the first run waits until the second start has been refused
    corpus = write_corpus(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out"
    args = fake_run_args(url, corpus, out, "--max-in-flight", "2", "--rows-per-part", "4")
    first = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (h := lease_holder(out)) is not None and h.pid == first.pid, what="the first run's lease")
        second = cli(*args, check=False, timeout=300)
        assert first.poll() is None, "the first run ended before the second one started: no overlap was tested"
        assert second.returncode == 75, second.stderr
        msg = second.stderr.strip()
        assert "\n" not in msg and msg.startswith("error: ") and "held by another writer" in msg
        assert f"pid {first.pid}" in msg and "rephraser run" in msg
        control(url, delay_ms=0)
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        first.kill()
    assert_exactly_once(out, 30)
    assert json.loads((out / "stats.json").read_text())["conservation_ok"]


def test_a_kill9_writers_lease_is_taken_over_by_the_next_start(tmp_path, fake_server):
    url = fake_server("--delay-ms", "300")
    corpus = write_corpus(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    args = fake_run_args(url, corpus, out, "--max-in-flight", "2", "--rows-per-part", "2")
    victim = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: committed_parts(out) >= 1, what="a first commit")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert lease_holder(out).pid == victim.pid and not lease_holder(out).released  # its lease is left behind
    control(url, delay_ms=0)
    p = cli(*args, timeout=300)  # same machine, dead pid: taken over at once
    assert "accounting OK" in p.stdout
    assert lease_holder(out).released and lease_holder(out).pid != victim.pid
    assert_exactly_once(out, 20)


def test_requeue_storm_never_damages_the_live_writer(tmp_path, fake_server):
    """A writer runs while the same command is started 20+ times and each start is killed after a
    fraction of a second (a requeue loop, an impatient user): exactly-once, nothing deleted."""
    url = fake_server("--delay-ms", "300")
    n_docs = 40
    corpus = write_corpus(tmp_path / "in.jsonl", n_docs)
    out = tmp_path / "out"
    args = fake_run_args(url, corpus, out, "--max-in-flight", "2", "--rows-per-part", "2")
    writer = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rng = random.Random(7)
    outcomes: Counter = Counter()
    try:
        wait_for(lambda: committed_parts(out) >= 1, what="the writer's first commit")
        control(url, delay_ms=600000)  # the writer outlives the storm however slow the machine; released after
        for i in range(int(os.environ.get("REPHRASER_STORM_STARTS", "22"))):
            p = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:  # most starts die young (even before the lease on a busy machine); every 4th gets to it
                p.wait(timeout=120 if i % 4 == 3 else rng.uniform(0.1, 0.9))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            outcomes[p.returncode] += 1
            assert writer.poll() is None, "the writer ended during the storm"
            assert p.returncode in (75, -signal.SIGKILL), p.stderr.read()
            p.stderr.close()
        control(url, delay_ms=0)
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    finally:
        writer.kill()
    assert sum(outcomes.values()) >= 20 and outcomes[75] >= 5, outcomes
    assert_exactly_once(out, n_docs)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["rows"]["ok"] == n_docs


def test_overwrite_refuses_while_another_shard_is_being_written(tmp_path, fake_server):
    from rephraser.config import RunConfig
    from rephraser.generate.runner import run_config
    from rephraser.lease import LeaseHeld
    from rephraser.writer_leases import shard_writer

    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out"
    cfg = RunConfig.model_validate({
        "source": {"path": str(corpus), "shard_index": 1, "shard_count": 2}, "prompts": [ECHO_PROMPT],
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}, "output": {"dir": str(out)}})
    run_config(cfg, progress=False)
    busy = "refusing to --overwrite .* shard s00000-of-00002 is being written"
    # shard 0 is being written (by this process, for the test)
    with shard_writer(out, "s00000-of-00002"), pytest.raises(LeaseHeld, match=busy):
        run_config(cfg, overwrite=True, progress=False)
    assert (out / "manifests" / "s00001-of-00002").is_dir()  # nothing was deleted
    run_config(cfg, overwrite=True, progress=False)


@pytest.mark.parametrize("crash_after", [0, 1, 3, 100])
def test_overwrite_killed_part_way_leaves_a_usable_folder(tmp_path, fake_server, monkeypatch, crash_after):
    """--overwrite moves results aside one rename at a time (manifests first, run.json last); a crash
    after any of them leaves a folder that a plain rerun completes and --overwrite accepts."""
    from rephraser import run_identity
    from rephraser.config import RunConfig
    from rephraser.generate.runner import run_config

    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out"
    cfg = RunConfig.model_validate({
        "source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT], "output": {"dir": str(out), "rows_per_part": 3},
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}})
    run_config(cfg, progress=False)

    class Killed(BaseException):  # not an Exception: nothing may catch it, like a kill -9
        pass

    renames = 0
    real_rename, real_rmtree = os.rename, run_identity.shutil.rmtree

    def rename(a, b):
        nonlocal renames
        if renames == crash_after:
            raise Killed
        renames += 1
        real_rename(a, b)

    monkeypatch.setattr(run_identity.os, "rename", rename)
    monkeypatch.setattr(run_identity.shutil, "rmtree", lambda *a, **k: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        run_config(cfg, overwrite=True, progress=False)
    monkeypatch.setattr(run_identity.os, "rename", real_rename)
    monkeypatch.setattr(run_identity.shutil, "rmtree", real_rmtree)
    stats = run_config(cfg, progress=False)  # a plain rerun: resumes or restarts, never mixes
    assert stats.conservation_ok and stats.rows.ok == 8
    assert_exactly_once(out, 8)
    run_config(cfg, overwrite=True, progress=False)  # and --overwrite still accepts the folder
    assert_exactly_once(out, 8)
    assert not list(out.glob(".overwrite-*"))
