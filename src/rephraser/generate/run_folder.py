"""The output folder of a run: its identity (config + prompt hashes) and its statistics.

`run.json` pins what the folder contains: the fingerprint of every config field that changes the
output, and the hash of every prompt. A restart with a different config or an edited prompt is
refused with the list of what changed (or accepted with --force); `config.yaml` is the resolved
config, so `rephraser run --config OUT/config.yaml` reproduces the run.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rephraser import storage
from rephraser.config import RunConfig
from rephraser.errors import ResumeError
from rephraser.generate.checkpoint import FATE_DIRS
from rephraser.prompts.spec import PromptSpec


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def identity(cfg: RunConfig, prompts: list[PromptSpec]) -> dict[str, Any]:
    return {
        "fingerprint": cfg.fingerprint(),
        "prompt_hashes": {p.name: p.hash for p in prompts},
        "outcome_fields": cfg.outcome_fields(),
    }


def prepare(cfg: RunConfig, prompts: list[PromptSpec], *, force: bool = False,
            overwrite: bool = False) -> storage.Location:
    """Create or validate the output folder (local or remote); write run.json and config.yaml."""
    out = storage.as_location(cfg.output.dir)
    storage.check_writable(out)
    entries = storage.listdir(out)  # first touch of a remote output: a missing bucket or bad credentials fail here
    if overwrite and entries:
        if "run.json" not in entries:
            raise ResumeError(f"refusing to --overwrite {out}: it is not empty and not a rephraser output folder")
        storage.remove_tree(out)
        entries = []
    if not entries and storage.exists(out) and not storage.is_dir(out):
        raise ResumeError(f"output path {out} exists and is not a folder")
    storage.makedirs(out)
    ident = identity(cfg, prompts)
    run_json = out / "run.json"
    if "run.json" in entries:
        try:
            old = json.loads(storage.read_text(run_json))
        except (OSError, ValueError) as e:
            raise ResumeError(f"{run_json} is unreadable ({e})") from None
        changes = describe_changes(old, ident)
        if changes and not force:
            raise ResumeError(
                f"{out} was produced with a different configuration ({'; '.join(changes[:4])}"
                f"{'; …' if len(changes) > 4 else ''}); use another --output, --overwrite to start over, "
                "or --force to continue anyway"
            )
    elif any(name in FATE_DIRS.values() for name in entries):
        raise ResumeError(f"{out} holds outputs but no run.json; refusing to mix runs (use another --output)")
    storage.write_bytes(run_json, json.dumps(ident, indent=2, sort_keys=True).encode())
    whole_run = cfg.model_copy(deep=True)
    whole_run.source.shard_index = 0  # shards share one config; a worker adds --shard i/N
    storage.write_bytes(out / "config.yaml", whole_run.to_yaml().encode())
    return out


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    a, b = _flatten(old.get("outcome_fields", {})), _flatten(new["outcome_fields"])
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            changes.append(f"{k}: {a.get(k)!r} -> {b.get(k)!r}")
    pa_, pb = old.get("prompt_hashes", {}), new["prompt_hashes"]
    for name in sorted(set(pa_) & set(pb)):
        if pa_[name] != pb[name]:
            changes.append(f"prompt {name} edited (hash {pa_[name]} -> {pb[name]})")
    if not changes and old.get("fingerprint") != new["fingerprint"]:
        changes.append("fingerprint differs")
    return changes


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
    storage.write_bytes(out / "stats.json", json.dumps(merged, indent=2, sort_keys=True).encode())
    return merged
