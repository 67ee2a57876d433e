"""A run's statistics: the typed form of OUT/stats/<shard>.json and OUT/stats.json, the per-prompt sums
of the manifests' part summaries, and the merge of every shard's file into OUT/stats.json (shards may
finish in any order).

`RunStats` is one shard's statistics (what `run_config` returns) or the merge of several; its JSON
form (`to_json`) is exactly the file's: a single-shard run's stats.json is its shard's file, a
multi-shard one sums the counters and keeps each shard's session under `per_shard`. Unknown keys
(written by a newer version) load and are kept.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rephraser import storage
from rephraser.cost import hours_per_billion
from rephraser.records import Row
from rephraser.run_folder import STATS_JSON, read_stats


class _Stats(BaseModel):
    model_config = ConfigDict(extra="allow")


class PromptCounts(_Stats):
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)  # "status: reason" -> rows
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ok_completion_tokens: int = 0


class InputCounts(_Stats):
    records: int = 0  # valid + rejected at input
    documents: int = 0
    rejected_input: int = 0
    limit: int | None = None


class RowCounts(_Stats):
    expected: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    missing: int = 0


class TokenCounts(_Stats):
    prompt: int = 0
    completion: int = 0


class Session(_Stats):
    """What this invocation did (a resumed run counts only its own work)."""

    wall_s: float = 0.0
    resume_s: float = 0.0
    units_done_before: int = 0
    units_run: int = 0
    engine_calls: int = 0
    cache_hits: int = 0
    transient_errors: int = 0
    fresh_completion_tokens: int = 0
    output_tok_per_s: float = 0.0
    device: str | None = None  # what the engine ran on: cpu, gpu, or server (unknown hardware)
    device_hours_per_billion_tokens: float | None = None
    gpu_hours_per_billion_tokens: float | None = None  # only when device == "gpu"
    cache_off: str | None = None  # why the request cache was switched off, if it was
    units_retried: int = 0  # dead-lettered units generated again (--retry-failed)
    # engine speculation by prompt (embedded engine, speculative: ngram): drafted, accepted, verify_steps,
    # tokens, acceptance_rate (kept / guessed), mean_accepted_length (tokens per verify step, the one
    # sampled token included) and drafted_per_token
    speculation: dict[str, dict[str, float]] | None = None


class RunStats(_Stats):
    inputs: InputCounts = Field(default_factory=InputCounts)
    rows: RowCounts = Field(default_factory=RowCounts)
    tokens: TokenCounts = Field(default_factory=TokenCounts)
    per_prompt: dict[str, PromptCounts] = Field(default_factory=dict)
    conservation_ok: bool = False  # every input ended exactly once (written, rejected or dead-lettered)
    # one shard
    rephraser_version: str | None = None
    shard: str | None = None  # "s00003-of-00010"
    complete: bool | None = None
    model: str | None = None
    engine: str | None = None
    session: Session | None = None
    dedup: dict[str, Any] | None = None
    # the merge of several shards
    shards: int | None = None
    shards_complete: int | None = None
    per_shard: dict[str, Session] | None = None

    def to_json(self) -> dict[str, Any]:
        """The file form: exactly the keys that were set, so both shapes round-trip unchanged."""
        return self.model_dump(mode="json", exclude_unset=True)


def speculation_summary(raw: dict[str, list[int]], names: dict[str, str]) -> dict[str, dict[str, float]] | None:
    """Per prompt name, from Caller counters keyed by prompt hash (see Session.speculation)."""
    out: dict[str, dict[str, float]] = {}
    for h, (drafted, accepted, steps, tokens) in raw.items():
        out[names.get(h, h)] = {
            "drafted": drafted, "accepted": accepted, "verify_steps": steps, "tokens": tokens,
            "acceptance_rate": round(accepted / drafted, 4) if drafted else 0.0,
            "mean_accepted_length": round((accepted + steps) / steps, 3) if steps else 0.0,
            "drafted_per_token": round(drafted / tokens, 3) if tokens else 0.0,
        }
    return out or None


def load_run_stats(out: storage.PathLike) -> RunStats | None:
    """OUT/stats.json as RunStats (None before any shard finished)."""
    data = read_stats(out)
    return RunStats.model_validate(data) if data else None


def summarize(rows: list[Row]) -> dict[str, Any]:
    """One part's summary, kept in its manifest: rows, counts, reasons and tokens per prompt (summed back
    by aggregate_parts)."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for r in rows:
        counts[f"{r.prompt}|{r.status}"] += 1
        if r.reason:
            reasons[f"{r.prompt}|{r.status}|{short_reason(r.reason)}"] += 1
        tokens[f"{r.prompt}|prompt_tokens"] += r.prompt_tokens or 0
        tokens[f"{r.prompt}|completion_tokens"] += r.completion_tokens or 0
        if r.status == "ok":
            tokens[f"{r.prompt}|ok_completion_tokens"] += r.completion_tokens or 0
    return {"rows": len(rows), "counts": dict(counts), "reasons": dict(reasons), "tokens": dict(tokens)}


def short_reason(reason: str) -> str:
    """Group reasons for reporting: the text before the first ':' or '(' (details stay in the rows)."""
    for sep in (":", "("):
        head = reason.split(sep, 1)[0].strip()
        if head:
            reason = head
    return reason[:80]


def aggregate_parts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-part summaries kept in manifests into per-prompt counts, reasons and tokens."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
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


def write_shard_stats(out: storage.Location, stats: RunStats) -> None:
    """Persist one shard's statistics (OUT/stats/<shard>.json) and merge every shard's into OUT/stats.json."""
    storage.write_json(out / "stats" / f"{stats.shard}.json", stats.to_json(), sort_keys=True)
    merge_shard_stats(out)


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
    storage.write_json(out / STATS_JSON, merged, sort_keys=True)
    return merged


def device_hours(device: str, tok_s: float) -> dict[str, Any]:
    """Hours of one engine replica per 1B output tokens at this speed, named after what it ran on
    (the engine spec's `device`): GPU-hours only for a GPU engine, never for a CPU run or a server."""
    hours = round(hours_per_billion(tok_s), 2) if tok_s else None
    return {"device": device, "device_hours_per_billion_tokens": hours,
            **({"gpu_hours_per_billion_tokens": hours} if device == "gpu" else {})}
