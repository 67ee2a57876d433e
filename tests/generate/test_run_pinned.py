"""A small run's output folder, pinned byte for byte: every committed Parquet file, manifest, stats file,
run.json (the fingerprint), config.yaml and sharding.json equals the golden copy in
tests/generate/golden/pinned_run.json, which was written by the runner before its refactoring (issue 22).

The run is made deterministic on purpose: one request in flight (rows reach parts in input order), no
timed flushes, the fake server's faults chosen by arrival order, and the random token in data file names
replaced by a counter. Only what a clock decides is masked: a session's durations and speeds.

A deliberate change of the output format regenerates the golden copy with
`REPHRASER_WRITE_GOLDEN=1 pytest tests/generate/test_run_pinned.py` — and says why in its commit."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path

from helpers import ECHO_PROMPT, write_corpus
from rephraser import manifests
from rephraser.config import RunConfig
from rephraser.generate.runner import run_config

GOLDEN = Path(__file__).parent / "golden" / "pinned_run.json"
URL_MARK = "http://fake-server"
CLOCK_KEYS = ("wall_s", "resume_s", "output_tok_per_s", "device_hours_per_billion_tokens")
SKIPPED_DIRS = ("leases", "cache")  # who held the lease and when; the request cache's SQLite pages


def _mask_clock(node: object) -> object:
    if isinstance(node, dict):
        return {k: ("<clock>" if k in CLOCK_KEYS and v is not None else _mask_clock(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_clock(v) for v in node]
    return node


def snapshot(out: Path, url: str) -> dict[str, str]:
    """Every file of the folder: text files as they are (stats with their clock readings masked), Parquet as
    its size and SHA-256."""
    files: dict[str, str] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel.split("/")[0] in SKIPPED_DIRS:
            continue
        data = path.read_bytes()
        if rel.endswith(".parquet"):
            files[rel] = f"{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()}"
        elif rel == "stats.json" or rel.startswith("stats/"):
            files[rel] = json.dumps(_mask_clock(json.loads(data)), sort_keys=True, indent=1)
        else:
            files[rel] = data.decode().replace(url, URL_MARK)
    return files


def _config(url: str) -> RunConfig:
    return RunConfig.model_validate({
        "source": {"path": "in.jsonl"},
        "prompts": ["echo.yaml"],  # relative to the run folder: a checkout's path is in no pinned byte
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
        "sampling": {"max_tokens": 30, "n": 2, "seed": 7},
        "rollout": {"kind": "samples"},
        "retry": {"max_attempts": 2, "backoff_base_s": 0, "backoff_max_s": 0, "max_failure_rate": 1.0},
        "postprocess": {"dedup": "report"},
        "output": {"dir": "out", "rows_per_part": 7, "flush_seconds": 3600},
        "max_in_flight": 1,
    })


def test_a_small_run_writes_the_pinned_folder(tmp_path, monkeypatch, fake_server):
    url = fake_server("--faults", "garbage", "--fault-rate", "0.3", "--seed", "5")
    monkeypatch.chdir(tmp_path)  # relative paths: the rows' origins and config.yaml name no temp folder
    counter = itertools.count()
    monkeypatch.setattr(manifests, "new_token", lambda: f"{next(counter):06x}")
    write_corpus(tmp_path / "in.jsonl", 12, bad=True)
    shutil.copy(ECHO_PROMPT, tmp_path / "echo.yaml")
    first = run_config(_config(url), progress=False)
    after_first = snapshot(tmp_path / "out", url)
    again = run_config(_config(url), progress=False)  # a resume: nothing left to do, stats rewritten
    got = {"first": after_first, "resume": snapshot(tmp_path / "out", url),
           "returned": [_mask_clock(first.to_json()), _mask_clock(again.to_json())]}
    if os.environ.get("REPHRASER_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    # the run exercised what it pins: ok, rejected (cut at max_tokens), dead-lettered and bad-input rows
    rows = first.rows
    assert rows.ok and rows.rejected and rows.failed and first.inputs.rejected_input == 3 and first.conservation_ok
    assert sorted(got["first"]) == sorted(want["first"])  # the same files
    for rel in want["first"]:
        assert got["first"][rel] == want["first"][rel], rel
    for rel in want["resume"]:
        assert got["resume"][rel] == want["resume"][rel], rel
    assert got == want
