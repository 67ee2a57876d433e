"""Run-level resources, with real processes: a full disk stops the run with one line and resumes on a
larger disk with nothing lost; a read-only filesystem is one line too; a full cache disk only switches
the cache off; a broken endpoint fails the run loudly and `--retry-failed` recovers every dead letter once it is fixed."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from helpers import all_rows, cli, fake_run_args, read_rows, write_corpus
from rephraser.errors import WriteError
from rephraser.run_folder import committed_manifests

TAG = "s00000-of-00001"


@contextmanager
def tmpfs(path: Path, size: str):
    """A small filesystem of its own at `path` (needs root: tests are skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def keys(out: Path) -> list[tuple[str, str]]:
    return [(r["id"], r["prompt"]) for r in all_rows(out)]


def test_disk_full_is_one_line_and_resumes_on_a_larger_disk(tmp_path, fake_server):
    url = fake_server()
    n_docs = 400
    corpus = write_corpus(tmp_path / "in.jsonl", n_docs)
    with tmpfs(tmp_path / "small", "512k") as small:
        out = small / "out"
        p = cli(*fake_run_args(url, corpus, out, "--rows-per-part", "5", "--max-in-flight", "8"), check=False,
                timeout=300)
        assert p.returncode == 2, p.stdout + p.stderr
        lines = p.stderr.strip().splitlines()
        last = lines[-1]
        assert last.startswith("error: cannot write ") and "No space left on device" in last and str(out) in last
        assert "rerun the same command to resume" in last
        noise = [x for x in lines[:-1] if not x.startswith("warning: request cache")]  # the cache may fill first
        assert not noise, noise  # no tracebacks, no "Task exception was never retrieved", no unclosed sessions
        done = sum(len(m["units"]) for m in committed_manifests(out).values())  # read only: the disk is full
        assert 0 < done < n_docs
        big = tmp_path / "big" / "out"
        shutil.copytree(out, big)  # the operator moves the folder to a larger disk
    before = httpx.get(f"{url}/stats").json()["requests"]
    cli(*fake_run_args(url, corpus, big, "--rows-per-part", "5"), timeout=300)
    got = keys(big)
    assert len(got) == len(set(got)) == n_docs  # nothing lost, nothing twice
    assert httpx.get(f"{url}/stats").json()["requests"] - before <= n_docs - done  # committed work was kept
    assert json.loads((big / "stats.json").read_text())["conservation_ok"]


def test_a_full_cache_disk_never_dead_letters(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out"
    with tmpfs(out / "cache", "12k"):
        p = cli(*fake_run_args(url, corpus, out, "--rows-per-part", "10"), timeout=300)
        assert p.stderr.count("warning: request cache") == 1
    assert len(read_rows(out, "data")) == 60 and not read_rows(out, "dead_letter")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["session"]["cache_off"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broken_endpoint_fails_loudly_then_retry_failed_recovers_everything(tmp_path, fake_server):
    corpus = write_corpus(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out"
    (tmp_path / "retry.yaml").write_text("retry: {max_attempts: 2, backoff_base_s: 0.01, backoff_max_s: 0.02}\n")
    broken = f"http://127.0.0.1:{_closed_port()}"  # nothing listens there: every call is refused
    args = ["--config", str(tmp_path / "retry.yaml"), "--rows-per-part", "2"]
    p = cli(*fake_run_args(broken, corpus, out, *args), check=False, timeout=300)
    assert p.returncode == 2 and "endpoint looks broken" in p.stderr and "--retry-failed" in p.stderr
    dead = read_rows(out, "dead_letter")
    assert len(dead) == 6 and {r["attempts"] for r in dead} == {2} and "cannot connect" in dead[0]["reason"]

    url = fake_server()  # the endpoint is fixed
    p = cli(*fake_run_args(url, corpus, out, *args), timeout=300)  # a plain rerun keeps dead letters ...
    assert "rerun with --retry-failed" in p.stdout and len(read_rows(out, "dead_letter")) == 6
    cli(*fake_run_args(url, corpus, out, *args, "--retry-failed"), timeout=300)  # ... this one retries them
    assert not read_rows(out, "dead_letter") and len(read_rows(out, "data")) == 6
    got = keys(out)
    assert len(got) == len(set(got)) == 6
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["rows"]["failed"] == 0 and stats["rows"]["ok"] == 6
    assert stats["per_prompt"]["echo"]["failed"] == 0 and stats["session"]["units_retried"] == 6


def test_a_read_only_filesystem_is_one_line_and_the_rerun_resumes(tmp_path, fake_server):
    url = fake_server()
    with tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "out"
        cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 10), out))
        corpus = write_corpus(tmp_path / "in.jsonl", 20)  # the same 10 documents and 10 new ones
        assert subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True).returncode == 0
        p = cli(*fake_run_args(url, corpus, out), check=False, timeout=300)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        line = p.stderr.strip()
        assert "\n" not in line and str(out) in line and "Read-only file system" in line, line
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True, capture_output=True)
        before = httpx.get(f"{url}/stats").json()["requests"]
        cli(*fake_run_args(url, corpus, out), timeout=300)
        assert httpx.get(f"{url}/stats").json()["requests"] - before == 10  # only the new documents
        got = keys(out)
        assert len(got) == len(set(got)) == 20


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
def test_every_resource_error_reads_as_one_line_naming_the_file(tmp_path, code):
    from rephraser.generate.checkpoint import naming
    from rephraser.generate.runner import commit_error

    target = tmp_path / "data" / "faq" / "part-00007.parquet"
    with pytest.raises(WriteError) as e, naming(target):
        raise OSError(code, os.strerror(code), str(target))
    msg = str(commit_error(e.value, tmp_path))
    assert msg.startswith(f"cannot write {target}: {os.strerror(code)};") and "rerun the same command" in msg
    assert "\n" not in msg
    raw = commit_error(OSError(code, os.strerror(code), str(target)), tmp_path)  # not wrapped on the way
    assert str(raw).startswith(f"cannot write {target}: {os.strerror(code)};")
