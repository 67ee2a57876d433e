"""`rephraser plan`: record counting, the pilot against the fake server, and the CLI."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rephraser.config import RunConfig, load_yaml
from rephraser.scale import plan as plan_mod

from .conftest import run_yaml, write_docs

CLI = [sys.executable, "-m", "rephraser.cli"]


def test_count_records_jsonl_gz_parquet_and_wiki(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_docs(folder / "a.jsonl", 7)
    with gzip.open(folder / "b.jsonl.gz", "wt") as f:
        f.write('{"id": "x", "text": "y"}\n\n{"id": "z", "text": "w"}\n')
    pq.write_table(pa.table({"id": ["p", "q", "r"], "text": ["1", "2", "3"]}), folder / "c.parquet")
    cfg = RunConfig.model_validate({"source": {"path": str(folder)}})
    assert plan_mod.count_records(cfg.source) == 7 + 2 + 3
    assert plan_mod.count_records(RunConfig().source) > 10_000  # embedded wiki extracts
    limited = RunConfig.model_validate({"source": {"path": str(folder), "limit": 2, "shard_count": 3}})
    assert plan_mod.records_in_scope(limited, 12) == 6


def test_engine_window():
    assert plan_mod.engine_window(RunConfig.model_validate({"engine": {"parallel": 4}})) == 4
    assert plan_mod.engine_window(RunConfig.model_validate(
        {"engine": {"kind": "openai", "base_url": "http://x/v1"}, "max_in_flight": 16})) == 16
    assert plan_mod.engine_window(RunConfig.model_validate(
        {"engine": {"kind": "vllm", "engine_args": {"max_num_seqs": 32}}, "max_in_flight": 500})) == 32


def test_pilot_projects_the_full_run(tmp_path, fake_server):
    from rephraser.generate.runner import run_config

    url = fake_server("--delay-ms", "20")
    docs = write_docs(tmp_path / "docs.jsonl", 120)
    cfg = load_yaml(run_yaml(tmp_path / "run.yaml", docs, url, tmp_path / "full", prompts="article"))
    pilot = plan_mod.run_pilot(cfg, 16, keep_dir=tmp_path / "pilot")
    assert pilot.documents == 16 and pilot.measurement.units == 16
    assert pilot.measurement.round_latency_s is not None  # two stages ran
    proj = plan_mod.plan_from_pilot(cfg, pilot, plan_mod.count_records(cfg.source), price_per_hour=2.0,
                                    target_tokens=10_000)
    stats = run_config(cfg, progress=False)
    actual = stats.tokens.completion
    assert proj.units == 120
    assert proj.output_tokens == pytest.approx(actual, rel=0.2)  # same document length distribution
    assert proj.target_units is not None and proj.cost == pytest.approx(proj.device_hours * 2.0)
    # timing is not asserted (shared machine); bench/bench_plan.py measures it
    print(f"projected {proj.wall_hours * 3600:.2f}s, actual generate {stats.session.wall_s:.2f}s")


def test_cli_reference_projection_json(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl", 50)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"source: {{path: '{docs}'}}\nprompts: [faq, math]\n")
    out = subprocess.run([*CLI, "plan", "--config", str(cfg), "--reference", "SmolLM2-1.7B", "--json",
                          "--price-per-hour", "2", "--target-tokens", "1e9", "--devices", "4"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    p = result["projection"]
    assert result["input_records"] == 50 and result["pilot"] is None
    assert p["units"] == 100 and p["output_tokens"] == pytest.approx(100 * 359)
    assert p["output_tok_per_s"] == 9200 and p["target_units"] == -(-int(1e9) // 359)
    assert p["target_device_hours"] == pytest.approx(p["target_units"] * 359 / 9200 / 3600)
    assert p["target_wall_hours"] == pytest.approx(p["target_device_hours"] / 4)
    table = subprocess.run([*CLI, "plan", "--config", str(cfg), "--reference", "Gemma-3-1B"],
                           capture_output=True, text=True, check=True).stdout
    assert "cost per 1B output tokens" in table and "reference:Gemma-3-1B" in table


def test_cli_errors_are_one_line(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("prompts: [faq]\n")
    bad = subprocess.run([*CLI, "plan", "--config", str(cfg), "--reference", "gpt-9"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no reference throughput for 'gpt-9'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    missing = subprocess.run([*CLI, "plan", "--config", str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_routed_plan_counts_only_each_documents_route(tmp_path):
    # 4 of 10 documents take the two-prompt route, the rest the one-prompt default: 4*2 + 6*1 = 14 requests,
    # not 10 x 2 (every prompt per document, which overestimated routed runs' tokens and time)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": ("the old bridge " if i % 3 == 0 else "a town ")
                                        + "by a river with mills and farms"}) + "\n" for i in range(10)))
    cfg = RunConfig.model_validate({
        "source": {"path": str(docs)}, "prompts": ["faq", "math"],
        "routing": {"routes": [{"name": "bridges", "when": {"regex": "bridge"}, "prompts": ["faq", "math"]}],
                    "default": {"prompts": ["faq"]}}})
    proj = plan_mod.plan_from_reference(cfg, "SmolLM2-1.7B", 10, price_per_hour=2.0, target_tokens=None)
    assert proj.units == 14 and any("1.40 requests per document" in n for n in proj.notes)
    # a sample scales: the first 5 records hold 2 bridges (d0, d3) -> 7/5 per document, for 20 records 28
    assert plan_mod.units_per_document(cfg, 5) == pytest.approx(7 / 5)
    assert plan_mod.plan_from_reference(cfg, "SmolLM2-1.7B", 20, price_per_hour=2.0, target_tokens=None).units == 28
