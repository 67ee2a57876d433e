"""End to end: a tiny grid against the fake OpenAI server, interrupted after one cell and resumed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from helpers import ECHO_PROMPT


def write_corpus(path: Path, n: int = 60) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            words = " ".join(f"word{(i * 7 + j) % 97}" for j in range(30 + i % 30))
            f.write(json.dumps({"id": f"doc-{i:05d}", "text": f"Document {i} says {i * 3} apples. {words}."}) + "\n")
    return path


def grid(tmp_path: Path, url: str, seeds=(0, 1), **extra) -> Path:
    cfg = {
        "name": "tiny",
        "output": str(tmp_path / "out"),
        "prompts": [ECHO_PROMPT],
        "generators": {"fake": {"engine": {"kind": "openai", "base_url": url, "model": "fake-model"}}},
        "sources": {"docs": {"source": {"path": str(write_corpus(tmp_path / "corpus.jsonl"))}, "rephrase_docs": 30}},
        "generation": {"sampling": {"max_tokens": 64}},
        "mix": {"ratios": [0.5], "tokens": 20000},
        "seeds": list(seeds),
        "tokenizer": {"vocab_size": 400},
        "train": {"preset": "tiny-1m", "steps": 4, "batch_size": 4, "seq_len": 64, "eval_every": 2, "log_every": 2},
        "eval": {"tasks": ["arc_easy", "table_qa_lookup"], "max_items": 4, "num_fewshot": 1, "heldout_docs": 20,
                 "heldout_fraction": 0.1},
        **extra,
    }
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", *args], capture_output=True, text=True, timeout=300,
                       env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"rephraser {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def markers(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "stages").glob("*/*/stage.json")}


def kinds(paths) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in paths:
        kind = p.split("/")[1]
        out[kind] = out.get(kind, 0) + 1
    return out


def requests(url: str) -> int:
    return httpx.get(f"{url}/stats").json()["requests"]


@pytest.mark.timeout(600)
def test_grid_runs_resumes_and_reports(tmp_path, fake_server):
    url = fake_server()
    config = grid(tmp_path, url)
    out = tmp_path / "out"

    # Dry run: nothing is written, every cell is listed with its stages.
    dry = cli("experiment", "run", str(config), "--dry-run")
    assert "baseline-source_only" in dry.stdout and "echo/mix50" in dry.stdout and not (out / "stages").exists()

    # "Interrupted" after the first cell: only the synthetic cell runs.
    cli("experiment", "run", str(config), "--only", "echo*")
    first = markers(out)
    assert kinds(first) == {"source": 1, "tokenizer": 1, "generate": 1, "mix": 1, "tokenize": 1, "train": 2,
                            "evaluate": 2}
    calls = requests(url)
    assert calls == 30  # one call per rewritten document

    # Resume: the finished stages are not redone (same markers, no new model calls), the baseline runs.
    full = cli("experiment", "run", str(config))
    after = markers(out)
    assert {k: after[k] for k in first} == first
    assert kinds(set(after) - set(first)) == {"mix": 1, "tokenize": 1, "train": 2, "evaluate": 2}
    assert requests(url) == calls
    assert "stages run: 6, already done: 11" in full.stdout

    doc = json.loads((out / "results.json").read_text())
    assert doc["baseline"] == "baseline-source_only"
    assert {(r["cell"], r["seed"]) for r in doc["rows"]} == {
        ("baseline-source_only", 0), ("baseline-source_only", 1), ("echo/mix50", 0), ("echo/mix50", 1)}
    for r in doc["rows"]:
        assert 0 < r["macro"] < 1 and r["heldout_bpb"] > 0 and r["task_arc_easy"] is not None
    syn = next(c for c in doc["cells"] if c["cell"] == "echo/mix50")
    base = next(c for c in doc["cells"] if c["cell"] == "baseline-source_only")
    assert syn["seeds"] == 2 and syn["gen_tokens"] > 0 and 0 <= syn["compliance"] <= 1
    # diversity and faithfulness beside compliance: the fake server echoes each document, so its rewrites
    # invent no number and keep the source's content words
    assert 0 < syn["distinct_2"] <= 1 and syn["invented_number_rate"] == 0 and syn["content_recall"] > 0.9
    assert base["distinct_2"] is None and base["content_recall"] is None  # the baseline generated nothing
    assert syn["macro_gap"] == pytest.approx(syn["macro_mean"] - base["macro_mean"])
    assert base["is_baseline"] and base["macro_gap"] is None and base["macro_p_holm"] is None  # not its own test
    # Welch's t over 2 seeds a side, with the item noise of the paired bootstrap over the 2 tasks x 4 items
    assert syn["macro_df"] is not None and 0 <= syn["macro_p_value"] <= syn["macro_p_holm"] <= 1
    assert syn["macro_se_items"] > 0 and syn["macro_se"] > syn["macro_se_seed"]
    assert syn["macro_beyond_noise"] == (syn["macro_p_holm"] < 0.05)
    assert doc["significance"]["correction"] == "holm"
    assert doc["significance"]["item_bootstrap"] == {"resamples": 1000, "tasks": 2, "items": 8}
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("cell,kind,prompt")
    assert {"compliance", "distinct_2", "invented_number_rate", "content_recall"} <= set(csv_lines[0].split(","))
    assert len((out / "results_summary.csv").read_text().splitlines()) == 3

    # The folder is something `rephraser report` understands: one score per cell and seed.
    from rephraser.report.experiment import load_experiment

    exp = load_experiment(out)
    scores = sorted((s["cell"], s["seed"], s["ratio"]) for s in exp.scores)
    assert scores == [("cells/baseline-source_only", 0, None), ("cells/baseline-source_only", 1, None),
                      ("cells/echo/mix50", 0, 0.5), ("cells/echo/mix50", 1, 0.5)]
    assert "cells/echo/mix50/seed0" in exp.curves

    # Adding a seed trains and evaluates only that seed (for both cells).
    cli("experiment", "run", str(grid(tmp_path, url, seeds=(0, 1, 2))))
    third = markers(out)
    assert {k: third[k] for k in after} == after
    assert kinds(set(third) - set(after)) == {"train": 2, "evaluate": 2}
    assert requests(url) == calls


def test_failing_stage_is_one_line_and_leaves_no_marker(tmp_path, fake_server):
    url = fake_server()
    config = grid(tmp_path, url, seeds=(0,), baselines={"other": {"kind": "dataset", "path": str(tmp_path / "nope")}})
    p = cli("experiment", "run", str(config), "--only", "baseline-other", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    msg = (p.stdout + p.stderr).strip().splitlines()[-1]
    assert "nope" in msg
    assert not list((tmp_path / "out" / "stages").glob("mix/*/stage.json"))
