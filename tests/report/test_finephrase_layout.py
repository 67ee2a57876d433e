"""`--schema finephrase`: a run's published rows in the study's dataset layout, loaded the way a user of
HuggingFaceFW/finephrase loads it, and listed in the card beside the run's own configs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import cli, fake_run_args, write_corpus
from rephraser.report.card import write_card
from rephraser.report.finephrase import write_finephrase
from rephraser.report.hub_push import plan_push


def test_run_schema_finephrase_loads_with_datasets_and_the_card_lists_it(tmp_path: Path, fake_server) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    corpus = write_corpus(tmp_path / "in.jsonl", 4)
    p = cli(*fake_run_args(fake_server(), corpus, out, "--max-tokens", "48", "--rollout", "samples", "--samples", "2",
                           "--schema", "finephrase"))
    assert "finephrase layout: 4 documents with 8 rollouts" in p.stdout
    write_card(out)
    names = datasets.get_dataset_config_names(str(out))
    assert {"all", "echo", "finephrase-all", "finephrase-echo"} <= set(names)
    cache = str(tmp_path / "cache")
    fp = datasets.load_dataset(str(out), name="finephrase-echo", split="train", cache_dir=cache)
    assert {"id", "text", "metadata", "rollout_results"} <= set(fp.column_names) and len(fp) == 4
    row = next(r for r in fp if r["id"] == "doc-00002")
    assert row["text"].startswith("Document number 2.") and row["metadata"] == {"lang": "en"}
    rollouts = row["rollout_results"]
    assert [r["sample"] for r in rollouts] == [0, 1] and all(r["text"].startswith("Q: ") for r in rollouts)
    assert rollouts[0]["finish_reason"] in ("stop", "length")
    usage = rollouts[0]["usage"]
    assert usage["completion_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert row["lineage"]["prompt"] == "echo" and row["lineage"]["model"] == "fake-model"
    # the run's own layout loads too, its structs filterable without parsing
    own = datasets.load_dataset(str(out), name="echo", split="train", cache_dir=cache)
    assert len(own.filter(lambda r: r["source_metadata"]["lang"] == "en" and r["sampling"]["seed"] is not None)) == 8
    assert "finephrase-*" in (out / "README.md").read_text()


def test_export_reads_previous_release_parts_and_refuses_other_schemas(tmp_path: Path, make_run) -> None:
    run = make_run(tmp_path / "run", {"faq": {"ok": 3, "rejected": 1}})  # JSON-string metadata, as before
    done = write_finephrase(run)
    assert (done.rows, done.rollouts, done.prompts) == (3, 3, {"faq": 3})
    rows = pq.read_table(next((run / "finephrase" / "faq").glob("*.parquet"))).to_pylist()
    assert rows[0]["metadata"]["license"] == "CC BY-SA 4.0" and rows[0]["rollout_results"][0]["text"]
    card_configs = {f.config for f in plan_push(run, "me/data").data}
    assert "finephrase-faq" in card_configs  # a push uploads the layout its card names
    p = cli("export", str(run), "--schema", "parquet", check=False)
    assert p.returncode == 2 and p.stderr.strip().startswith("error: --schema must be finephrase")
