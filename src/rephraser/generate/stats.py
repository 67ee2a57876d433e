"""A run's statistics: per-prompt sums of the manifests' part summaries, and the merge of every shard's
stats file into OUT/stats.json (shards may finish in any order)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rephraser import storage
from rephraser.run_folder import STATS_JSON


def aggregate_parts(parts: list[dict]) -> dict[str, Any]:
    """Sum the per-part summaries kept in manifests into per-prompt counts, reasons and tokens."""
    counts: Counter = Counter()
    reasons: Counter = Counter()
    tokens: Counter = Counter()
    for s in parts:
        counts.update(s["counts"])
        reasons.update(s["reasons"])
        tokens.update(s["tokens"])
    per_prompt: dict[str, dict[str, Any]] = {}

    def slot(prompt: str) -> dict[str, Any]:
        return per_prompt.setdefault(prompt, {"ok": 0, "rejected": 0, "failed": 0, "reasons": {},
                                              "prompt_tokens": 0, "completion_tokens": 0, "ok_completion_tokens": 0})

    for key, n in counts.items():
        prompt, status = key.split("|")
        slot(prompt)[status] += n
    for key, n in reasons.items():
        prompt, status, reason = key.split("|", 2)
        slot(prompt)["reasons"][f"{status}: {reason}"] = n
    for key, n in tokens.items():
        prompt, what = key.split("|")
        slot(prompt)[what] += n
    return per_prompt


def _add_numbers(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """dst += src for numbers, recursively for dicts; other values (None, strings) are left out."""
    for k, v in src.items():
        if isinstance(v, dict):
            _add_numbers(dst.setdefault(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            dst[k] = dst.get(k, 0) + v


def merge_shard_stats(out: storage.PathLike) -> dict[str, Any]:
    """Combine every shard's stats file into OUT/stats.json (shards may finish in any order)."""
    out = storage.as_location(out)
    shards = []
    files = storage.glob(out / "stats", "*.json")
    for raw in storage.read_many(files):
        try:
            shards.append(json.loads(raw))
        except ValueError:
            continue
    if not shards:
        return {}
    if len(shards) == 1:
        merged = dict(shards[0])
    else:
        merged = {"shards": len(shards), "inputs": {}, "rows": {}, "tokens": {}, "per_prompt": {}}
        for s in shards:
            for part in ("inputs", "rows", "tokens"):
                _add_numbers(merged[part], s.get(part, {}))
            for p, v in s.get("per_prompt", {}).items():
                _add_numbers(merged["per_prompt"].setdefault(p, {}), v)
        merged["conservation_ok"] = all(s.get("conservation_ok") for s in shards)
        merged["shards_complete"] = sum(1 for s in shards if s.get("complete"))
        merged["per_shard"] = {s.get("shard"): s.get("session", {}) for s in shards}
    storage.write_json(out / STATS_JSON, merged)
    return merged
