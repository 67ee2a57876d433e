"""`rephraser verify` and what every reader does with a damaged folder: a deleted part is named in one line
by stats, card, push, mix and a resume; `run --repair` regenerates exactly the units it held."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from helpers import all_rows, cli, fake_run_args, write_corpus

N_DOCS = 12


@pytest.fixture(scope="module")
def _finished(tmp_path_factory):
    from helpers import spawn_fake

    proc, port = spawn_fake()
    tmp = tmp_path_factory.mktemp("verify")
    url = f"http://127.0.0.1:{port}"
    corpus = write_corpus(tmp / "in.jsonl", N_DOCS)
    out = tmp / "out"
    cli(*fake_run_args(url, corpus, out, "--rows-per-part", "3"), timeout=300)
    yield out, corpus, url
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def run(_finished, tmp_path):
    out, corpus, url = _finished
    return shutil.copytree(out, tmp_path / "out"), corpus, url


def test_a_whole_folder_verifies_and_lists_its_data_files(run):
    out, _, _ = run
    p = cli("verify", str(out), "--checksums")
    assert f"{N_DOCS} rows, {N_DOCS} units; sizes, row counts and checksums: OK" in p.stdout
    listed = cli("verify", str(out), "--files").stdout.split()
    assert len(listed) == 4 and all(f.endswith(".parquet") and "/data/echo/" in f for f in listed)


def test_changed_bytes_are_found_by_checksums_only(run):
    out, _, _ = run
    victim = sorted((out / "data" / "echo").glob("*.parquet"))[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0xFF  # same size, same footer: only every byte read tells
    victim.write_bytes(bytes(data))
    assert cli("verify", str(out)).returncode == 0
    p = cli("verify", str(out), "--checksums", check=False)
    assert p.returncode == 1 and victim.name in p.stderr and "checksum" in p.stderr


def test_duplicates_and_strays_are_reported(run):
    out, _, _ = run
    stray = out / "data" / "echo" / "s00000-of-00001-part-00099-e000009-abcdef.parquet"
    shutil.copy(sorted((out / "data" / "echo").glob("*.parquet"))[0], stray)
    p = cli("verify", str(out))
    assert p.returncode == 0 and "1 stray file(s)" in p.stdout and stray.name in p.stdout
    mdir = out / "manifests" / "s00000-of-00001"
    first = sorted(mdir.glob("part-*.json"))[0]
    m = json.loads(first.read_text())
    m["part"], m["files"], m["file_checks"] = 50, [], {}
    (mdir / first.name.replace("part-00000", "part-00050")).write_text(json.dumps(m))
    p = cli("verify", str(out), check=False)
    assert p.returncode == 1 and "committed twice" in p.stderr


def test_every_reader_refuses_a_missing_part_and_repair_regenerates_it_once(run, tmp_path):
    out, corpus, url = run
    victim = sorted((out / "data" / "echo").glob("*.parquet"))[1]
    lost = len(__import__("pyarrow.parquet", fromlist=["x"]).read_table(victim))
    victim.unlink()
    p = cli("verify", str(out), check=False)
    assert p.returncode == 1 and f"{victim.name} is missing" in p.stderr
    readers = [["stats", str(out)], ["card", str(out)], ["push", str(out), "--repo", "org/x", "--dry-run"],
               ["mix", "--component", f"{out}:1", "--tokens", "1000", "--output", str(tmp_path / "mix")],
               fake_run_args(url, corpus, out)]
    for args in readers:
        p = cli(*args, check=False)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1, (args[0], p.stderr)
        assert victim.name in lines[0] and "is missing" in lines[0] and "--repair" in lines[0], (args[0], lines[0])
    p = cli(*fake_run_args(url, corpus, out, "--repair"), timeout=300)
    assert "accounting OK" in p.stdout
    session = json.loads((out / "stats" / "s00000-of-00001.json").read_text())["session"]
    assert session["units_run"] == lost and session["units_done_before"] == N_DOCS - lost  # only the lost units
    keys = Counter((r["id"], r["prompt"]) for r in all_rows(out))
    assert len(keys) == N_DOCS and set(keys.values()) == {1}
    assert cli("verify", str(out), "--checksums").returncode == 0
