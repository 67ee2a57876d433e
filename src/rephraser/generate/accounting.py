"""A shard's end-of-run accounting, as a pure function: what the manifests say is committed (the
checkpoint's DoneState), what this session's input covered and what its calls did, in; the shard's
RunStats and the conservation check (every unit in scope ended, each with its rollout's number of rows),
out. Nothing here reads or writes a file: stats.write_shard_stats persists the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rephraser import __version__
from rephraser.engines.base import Capabilities
from rephraser.generate.calls import CallCounters
from rephraser.generate.checkpoint import INPUT_PROMPT, DoneState
from rephraser.generate.stats import RunStats, aggregate_parts, device_hours, speculation_summary

FATES = {"o": "ok", "r": "rejected", "f": "failed"}  # the manifests' one-letter fate codes


@dataclass
class Scope:
    """What this session's input covered: every unit (document id, prompt name) it reached, routed ones
    only, rejected input records as their own unit (INPUT_PROMPT)."""

    units: list[tuple[str, str]] = field(default_factory=list)
    documents: int = 0
    rejected_input: int = 0


@dataclass(frozen=True)
class Session:
    """What this invocation did, beside its calls' counters."""

    units_done_before: int  # skipped: committed by an earlier run
    units_run: int
    units_retried: int  # dead-lettered units generated again (--retry-failed)
    wall_s: float
    resume_s: float  # reading the manifests back


@dataclass(frozen=True)
class Account:
    stats: RunStats
    missing: int  # units in scope with no committed rows
    bad_arity: int  # units with another number of rows than their rollout makes
    rows: int
    expected_rows: int

    @property
    def balanced(self) -> bool:
        return self.stats.conservation_ok

    def imbalance(self) -> str:
        return (f"{self.missing} units missing, {self.bad_arity} with wrong row counts, rows {self.rows} != "
                f"expected {self.expected_rows}")


def account(*, tag: str, done: DoneState, scope: Scope, rows_per_unit: dict[str, int], counters: CallCounters,
            cache_off: str | None, caps: Capabilities, device: str, limit: int | None,
            prompt_by_hash: dict[str, str], session: Session) -> Account:
    """The shard's statistics. rows_per_unit: rows each prompt's rollout makes per unit; device: what the
    engine runs on (its spec's); prompt_by_hash: prompt name by hash (the counters key speculation by hash)."""
    counts = {"ok": 0, "rejected": 0, "failed": 0}
    missing = bad_arity = 0
    for unit in scope.units:
        fates = done.units.get(unit)
        if fates is None:
            missing += 1
            continue
        expected = 1 if unit[1] == INPUT_PROMPT else rows_per_unit.get(unit[1], 1)
        bad_arity += len(fates) != expected
        for code in fates:
            counts[FATES[code]] += 1
    # per routed unit, not docs x prompts: with routes a document gets only its route's prompts
    expected_rows = sum(1 if p == INPUT_PROMPT else rows_per_unit.get(p, 1) for _, p in scope.units)
    rows = sum(counts.values())
    per_prompt = aggregate_parts(done.parts)
    fresh_tok_s = counters.completion_tokens_generated / session.wall_s if session.wall_s > 0 else 0.0
    speculation = speculation_summary(counters.speculation, prompt_by_hash)
    stats = RunStats.model_validate({
        "rephraser_version": __version__,
        "shard": tag,
        "complete": missing == 0,
        "model": caps.model_id,
        "engine": caps.engine,
        "inputs": {"records": scope.documents + scope.rejected_input, "documents": scope.documents,
                   "rejected_input": scope.rejected_input, "limit": limit},
        "rows": {"expected": expected_rows, **counts, "missing": missing},
        "conservation_ok": missing == 0 and bad_arity == 0 and rows == expected_rows,
        "per_prompt": per_prompt,
        "tokens": {
            "prompt": sum(v["prompt_tokens"] for v in per_prompt.values()),
            "completion": sum(v["completion_tokens"] for v in per_prompt.values()),
        },
        "session": _session(session, counters, cache_off, speculation, fresh_tok_s, device),
    })
    return Account(stats=stats, missing=missing, bad_arity=bad_arity, rows=rows, expected_rows=expected_rows)


def _session(s: Session, c: CallCounters, cache_off: str | None, speculation: dict[str, dict[str, float]] | None,
             fresh_tok_s: float, device: str) -> dict[str, Any]:
    # key order is the file's (stats files are written with sorted keys, the returned stats keep this order)
    return {
        "wall_s": round(s.wall_s, 3),
        "resume_s": round(s.resume_s, 3),
        "units_done_before": s.units_done_before,
        "units_run": s.units_run,
        "engine_calls": c.engine_calls,
        "cache_hits": c.cache_hits,
        "cache_off": cache_off,  # why the request cache was switched off, if it was
        "units_retried": s.units_retried,
        **({"speculation": speculation} if speculation else {}),  # only when the engine speculated
        "transient_errors": c.transient_errors,
        "fresh_completion_tokens": c.completion_tokens_generated,
        "output_tok_per_s": round(fresh_tok_s, 2),
        **device_hours(device, fresh_tok_s),
    }
