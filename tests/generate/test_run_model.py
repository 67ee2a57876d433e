"""The runner with the real embedded model (SmolLM2-135M-Instruct, llama.cpp in-process). Kept tiny."""

import json
import shutil
import sqlite3

import pyarrow.parquet as pq
import pytest

from helpers import all_rows, cli
from rephraser.config import RunConfig
from rephraser.generate.runner import run_config

pytestmark = pytest.mark.model


def test_quick_run_with_embedded_model_and_wiki_source(tmp_path):
    out = tmp_path / "q"
    cli("run", "--limit", "2", "--prompts", "faq", "--max-tokens", "40", "--parallel", "2", "--output", str(out),
        "--no-progress", timeout=600)
    rows = all_rows(out)
    assert len(rows) == 2
    for r in rows:
        assert r["model"].startswith("SmolLM2-135M") and r["engine"] == "llamacpp"
        assert r["raw_generation"] and r["completion_tokens"] > 0 and r["prompt_tokens"] > r["completion_tokens"] // 4
        assert r["source_metadata"]["license"] == "CC BY-SA 4.0"
        assert r["status"] in ("ok", "rejected") and (r["status"] == "ok" or r["reason"])
    # Loads with the HF datasets library as the README promises (when there are ok rows).
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["model"].startswith("SmolLM2")


def test_long_document_is_generated_in_cached_chunks(tmp_path):
    from rephraser.config import SourceConfig
    from rephraser.sources import iter_source

    docs = [d for d in iter_source(SourceConfig(limit=12))]
    long_text = "\n\n".join(d.text for d in docs)
    src = tmp_path / "long.jsonl"
    src.write_text(json.dumps({"id": "long-1", "text": long_text}) + "\n")
    out = tmp_path / "chunked"
    cfg = RunConfig.model_validate({
        "source": {"path": str(src)}, "prompts": ["summarize"],
        "engine": {"n_ctx": 512, "parallel": 1},
        "sampling": {"max_tokens": 24, "temperature": 0.0},
        "rollout": {"kind": "chunked", "carry_tokens": 32},
        # The content floor off: a 24-token summary of a long chunk keeps too little of it for the floor, and the
        # first chunk it turned down would end the document; this test is about chunking and the cache.
        "postprocess": {"allow_length_finish": True, "floor": "off"},
        "output": {"dir": str(out)},
    })
    stats = run_config(cfg, progress=False)
    (row,) = all_rows(out)
    assert row["rollout"] == "chunked" and row["calls"] >= 3, row
    assert row["prompt_tokens"] > 512  # more input than one context holds went through the model
    with sqlite3.connect(out / "cache" / "s00000-of-00001.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == row["calls"]
    assert stats.session.engine_calls == row["calls"]
    # Crash before the commit: outputs and manifests gone, the cache survives -> every chunk replays.
    for d in ("data", "rejected", "dead_letter", "manifests"):
        shutil.rmtree(out / d, ignore_errors=True)
    stats2 = run_config(cfg, progress=False)
    assert stats2.session.engine_calls == 0 and stats2.session.cache_hits == row["calls"]
    (row2,) = all_rows(out)
    assert row2 == row


def test_rows_load_with_hf_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "q"
    cli("run", "--limit", "1", "--prompts", "continue", "--max-tokens", "24", "--parallel", "1", "--output",
        str(out), "--no-progress", timeout=600)
    files = [str(p) for p in (out).glob("*/*/*.parquet")]
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    assert ds.num_rows == 1 and "generation" in ds.column_names and "prompt_hash" in ds.column_names
    assert pq.read_table(files[0]).schema.names == ds.column_names
