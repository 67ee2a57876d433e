"""Completions over the size cap (generate/bounds.py) become rejected rows with their reason and a marked,
cut raw text, before any post-processing."""

from __future__ import annotations

import json

from helpers import cli, fake_run_args, read_rows, write_corpus
from rephraser.generate.bounds import KEEP_CHARS, cap_bytes, clipped, oversize


def test_the_cap_counts_tokens_and_bytes():
    assert oversize("short reply", 40, 512) is None
    assert "tokens > cap 1,040" in oversize("a " * 2000, 2000, 512)
    huge = "x" * (cap_bytes(512) + 1)
    assert "bytes > cap 65,536" in oversize(huge, 3, 512)
    assert oversize("é" * (cap_bytes(512) // 2 - 1), 3, 512) is None  # counted in bytes, not characters
    cut = clipped(huge)
    assert len(cut) < KEEP_CHARS + 100 and cut.startswith("x" * KEEP_CHARS) and "cut by rephraser" in cut


def test_a_server_ignoring_max_tokens_costs_rejected_rows_not_minutes(tmp_path, fake_server):
    url = fake_server("--bloat-bytes", str(3_000_000))
    out = tmp_path / "out"
    p = cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 5), out, "--max-tokens", "64"), timeout=300)
    assert "accounting OK" in p.stdout
    rejected = read_rows(out, "rejected")
    assert len(rejected) == 5 and not read_rows(out, "data")
    for r in rejected:
        assert r["reason"].startswith("completion too large: 3,0") and "cap 65,536" in r["reason"]
        assert len(r["raw_generation"]) < KEEP_CHARS + 100 and r["raw_generation"].endswith("characters in all]")
    assert sum(f.stat().st_size for f in (out / "rejected").rglob("*.parquet")) < 500_000
    assert json.loads((out / "stats.json").read_text())["conservation_ok"]
