"""What a generate stage's marker records: rows and tokens summed over shards, throughput, and the
compliance / faithfulness / diversity figures of its prompt (pooled over the prompts of a routed stage).

Figures are read from `compute_stats` (postprocess/stats.py) into typed models; numbers keep their JSON
type (an int stays an int), so markers are written exactly as before the seam was typed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from rephraser.experiments.stages.base import StageOutputs
from rephraser.generate.stats import RunStats, Session
from rephraser.postprocess.stats import compute_stats

Number = int | float


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Distinct(_Read):
    distinct_2: Number | None = None


class _Faithfulness(_Read):
    invented_number_rate: Number | None = None
    mean_content_recall: Number | None = None


class _LengthRatio(_Read):
    p50: Number | None = None


class _OutputTokens(_Read):
    ok_completion_total: Number | None = None


class PromptStats(_Read):
    """One prompt's block of compute_stats()["prompts"] (the parts a marker records)."""

    ok: int = 0
    documents: int = 0
    contract_rejected: int = 0
    format_compliance: Number | None = None
    content_floor_pass: Number | None = None
    opening_collapse: Number | None = None
    no_digit_share: Number | None = None
    distinct: _Distinct | None = None
    faithfulness: _Faithfulness | None = None
    length_ratio: _LengthRatio | None = None
    output_tokens: _OutputTokens | None = None
    rejection_reasons: dict[str, int] | None = None


class _RouteStats(_Read):
    documents: int = 0
    ok: int = 0
    prompts: dict[str, PromptStats] = {}


class PromptFigures(BaseModel):
    ok: int
    documents: int
    format_compliance: Number | None
    no_digit_share: Number | None


class RouteFigures(BaseModel):
    documents: int
    ok: int
    prompts: dict[str, int]  # documents per prompt


class GenerateOutputs(StageOutputs):
    OMIT_IF_NONE = frozenset({"routes"})
    rows: dict[str, int] = {}
    tokens: dict[str, int] = {}
    model: str | None = None
    engine: str | None = None
    output_tok_per_s: Number | None = None
    engine_calls: int | None = None
    wall_s: Number | None = None
    shards: int = 1
    format_compliance: Number | None = None
    content_floor_pass: Number | None = None
    opening_collapse: Number | None = None
    distinct_2: Number | None = None
    invented_number_rate: Number | None = None
    content_recall: Number | None = None
    length_ratio_p50: Number | None = None
    ok_completion_tokens: Number | None = None
    rejection_reasons: dict[str, int] = {}
    per_prompt: dict[str, PromptFigures] = {}
    routes: dict[str, RouteFigures] | None = None  # routed stages only


def summarize_rows(folder: Path, shards: list[RunStats], summed: tuple[dict[str, int], dict[str, int], Session]
                   ) -> GenerateOutputs:
    rows, tokens, session = summed
    computed = compute_stats(folder, quality=False)
    per_prompt = {k: PromptStats.model_validate(v) for k, v in computed["prompts"].items() if k != "_input"}
    # one prompt: its stats; a routed stage (several prompts): pooled over them, weighted by rows
    p = next(iter(per_prompt.values()), PromptStats()) if len(per_prompt) <= 1 else _pooled(per_prompt)
    routes = {r: _RouteStats.model_validate(v) for r, v in (computed["routes"] or {}).items()}
    return GenerateOutputs(
        rows=rows, tokens=tokens, model=shards[0].model, engine=shards[0].engine,
        output_tok_per_s=session.output_tok_per_s, engine_calls=session.engine_calls,
        wall_s=session.wall_s, shards=len(shards),
        format_compliance=p.format_compliance, content_floor_pass=p.content_floor_pass,
        opening_collapse=p.opening_collapse, distinct_2=p.distinct.distinct_2 if p.distinct else None,
        invented_number_rate=p.faithfulness.invented_number_rate if p.faithfulness else None,
        content_recall=p.faithfulness.mean_content_recall if p.faithfulness else None,
        length_ratio_p50=p.length_ratio.p50 if p.length_ratio else None,
        ok_completion_tokens=p.output_tokens.ok_completion_total if p.output_tokens else None,
        rejection_reasons=dict(list((p.rejection_reasons or {}).items())[:5]),
        per_prompt={k: PromptFigures(ok=v.ok, documents=v.documents, format_compliance=v.format_compliance,
                                     no_digit_share=v.no_digit_share) for k, v in per_prompt.items()},
        routes={r: RouteFigures(documents=v.documents, ok=v.ok,
                                prompts={q: ps.documents for q, ps in v.prompts.items()})
                for r, v in routes.items()} or None,
    )


def _pooled(per_prompt: dict[str, PromptStats]) -> PromptStats:
    """Several prompts' stats as one: rates weighted by the rows they are measured on, totals summed."""
    def mean(get: Callable[[PromptStats], Number | None], weight: Callable[[PromptStats], int]) -> float | None:
        pairs = [(x, weight(v)) for v in per_prompt.values() if (x := get(v)) is not None and weight(v)]
        total = sum(w for _, w in pairs)
        return round(sum(x * w for x, w in pairs) / total, 4) if total else None

    def ok(v: PromptStats) -> int:
        return v.ok

    reasons: Counter[str] = Counter()
    for v in per_prompt.values():
        reasons.update(v.rejection_reasons or {})
    return PromptStats(
        format_compliance=mean(lambda v: v.format_compliance, lambda v: v.ok + v.contract_rejected),
        opening_collapse=mean(lambda v: v.opening_collapse, ok),
        distinct=_Distinct(distinct_2=mean(lambda v: v.distinct.distinct_2 if v.distinct else None, ok)),
        faithfulness=_Faithfulness(
            invented_number_rate=mean(lambda v: v.faithfulness.invented_number_rate if v.faithfulness else None, ok),
            mean_content_recall=mean(lambda v: v.faithfulness.mean_content_recall if v.faithfulness else None, ok)),
        length_ratio=_LengthRatio(p50=mean(lambda v: v.length_ratio.p50 if v.length_ratio else None, ok)),
        output_tokens=_OutputTokens(ok_completion_total=sum(
            (v.output_tokens.ok_completion_total if v.output_tokens else None) or 0 for v in per_prompt.values())),
        rejection_reasons=dict(reasons.most_common()),
    )


def sum_shards(shards: list[RunStats]) -> tuple[dict[str, int], dict[str, int], Session]:
    """Rows and tokens summed over shards; throughput per replica = fresh tokens / the summed wall time of
    each shard's last session (what one device achieved: what the time estimates use)."""
    rows: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    session = Session()
    fresh = 0
    for s in shards:
        rows.update(s.rows.model_dump())
        tokens.update(s.tokens.model_dump())
        last = s.session or Session()
        session.engine_calls += last.engine_calls
        session.wall_s = round(session.wall_s + last.wall_s, 3)
        fresh += last.fresh_completion_tokens
    session.output_tok_per_s = round(fresh / session.wall_s, 2) if session.wall_s > 0 else 0.0
    return dict(rows), dict(tokens), session
