"""atomic.py: whole files or none, even with several processes writing one target at once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rephraser.atomic import (
    atomic_create,
    atomic_dir,
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    is_stale_temp,
    remove_stale_temps,
    temp_path,
)
from rephraser.errors import RephraserError

# Each writer waits for a "go" file, then rewrites the same target many times with payloads that
# carry their own checksum, so a reader can tell a whole file from a torn or mixed one.
WRITER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    from pathlib import Path
    from rephraser.atomic import atomic_write_bytes, atomic_write_text

    target, go, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    for i in range(rounds):
        body = f"{os.getpid()}:{i}:" + "x" * (4096 + i)
        blob = json.dumps({"body": body, "sha": hashlib.sha256(body.encode()).hexdigest()})
        if i % 2:
            atomic_write_text(target, blob)
        else:
            atomic_write_bytes(target, blob.encode())
""")


def _whole(blob: bytes) -> bool:
    doc = json.loads(blob)
    return hashlib.sha256(doc["body"].encode()).hexdigest() == doc["sha"]


def test_concurrent_writers_of_one_target_never_fail_or_tear(tmp_path: Path) -> None:
    target, go = tmp_path / "shared" / "run.json", tmp_path / "go"
    target.parent.mkdir()
    writers, rounds = 4, 100
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(go), str(rounds)], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(writers)]
    try:
        time.sleep(0.2)  # let the interpreters start; correctness does not depend on it
        go.touch()
        reads = 0
        while any(p.poll() is None for p in procs):
            try:
                blob = target.read_bytes()
            except FileNotFoundError:
                continue  # nothing published yet
            assert _whole(blob), "a reader saw a torn file"
            reads += 1
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * writers, errors
    assert _whole(target.read_bytes())
    assert sorted(f.name for f in target.parent.iterdir()) == ["run.json"], "a temp file was left behind"


def test_temp_names_are_unique_and_hidden(tmp_path: Path) -> None:
    names = {temp_path(tmp_path / "stats.json").name for _ in range(1000)}
    assert len(names) == 1000
    assert all(n.startswith(".stats.json.") and n.endswith(".tmp") for n in names)


def test_failed_write_leaves_no_temp_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.jsonl"
    atomic_write_bytes(target, b"old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"old\n"
    assert [f.name for f in tmp_path.iterdir()] == ["a.jsonl"]


def test_unwritable_target_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RephraserError, match="cannot write"):
        atomic_write_json(blocker / "out.json", {})
    with pytest.raises(OSError):  # still an OSError for code that handles I/O failures
        atomic_write_json(blocker / "out.json", {})


def test_json_strict_refuses_nan_and_stringifies_other_types(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "ok.json", {"x": float("nan")})
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "bad.json", {"x": float("nan")}, strict=True)
    atomic_write_json(tmp_path / "p.json", {"p": tmp_path}, strict=True)
    assert json.loads((tmp_path / "p.json").read_text()) == {"p": str(tmp_path)}


def test_only_temps_of_gone_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        def temp_of(pid: int, host: str | None = None) -> Path:
            name = temp_path(tmp_path / "run.json").name.split(".")
            name[-3] = str(pid)  # .run.json.HOST.PID.RAND.tmp
            if host is not None:
                name[-4] = host
            p = tmp_path / ".".join(name)
            p.write_bytes(b"partial")
            return p

        of_dead, of_alive, of_me = temp_of(dead.pid), temp_of(alive.pid), temp_of(os.getpid())
        of_other_host = temp_of(dead.pid, host="elsewhere")
        legacy = tmp_path / ".run.json.tmp"  # fixed name written by older versions
        legacy.write_bytes(b"partial")
        assert [is_stale_temp(p) for p in (of_dead, of_alive, of_me, of_other_host, legacy)] == [
            True, False, False, False, True]
        assert not is_stale_temp(tmp_path / "run.json")
        assert remove_stale_temps(tmp_path) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            p.name for p in (of_alive, of_me, of_other_host))
    finally:
        alive.kill()
        alive.wait()


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "ckpt" / "step-1"
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        (tmp / "model.pt").write_bytes(b"half")
        raise RuntimeError("killed mid-save")
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    dest.mkdir()  # an empty folder may be replaced ...
    with atomic_dir(dest) as tmp:
        (tmp / "model.pt").write_bytes(b"whole")
    assert (dest / "model.pt").read_bytes() == b"whole" and [p.name for p in dest.parent.iterdir()] == ["step-1"]
    with pytest.raises(OSError), atomic_dir(dest) as tmp:  # ... a finished one never
        (tmp / "model.pt").write_bytes(b"other")
    assert (dest / "model.pt").read_bytes() == b"whole" and [p.name for p in dest.parent.iterdir()] == ["step-1"]


def test_atomic_create_makes_a_name_once_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "leases" / "0000000001.json"
    assert atomic_create(dest, b"first") is True
    assert atomic_create(dest, b"second") is False  # the name exists: the first writer keeps it
    assert dest.read_bytes() == b"first"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["0000000001.json"]
