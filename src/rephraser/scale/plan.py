"""Plan a run before paying for it: count the input, pilot a few documents, project time and cost.

The pilot is an ordinary run of the first `pilot_docs` records into a scratch folder (so it exercises
the exact engine, prompts and post-processing of the real run); its stats give tokens per request,
keep rate and latency, and `cost.project_from_pilot` scales them to the counted input. A run with routes
makes only each document's route's prompts: its requests per document are counted on a sample by the
runner's own routing (generate/routes.py) and scaled the same way.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rephraser.config import RunConfig, validate
from rephraser.cost import PilotMeasurement, Projection, project_from_pilot, project_from_reference
from rephraser.engines import engine_spec
from rephraser.errors import RephraserError
from rephraser.generate.routes import count_units
from rephraser.generate.runner import run_config
from rephraser.generate.stats import RunStats, Session
from rephraser.prompts.registry import resolve_prompts
from rephraser.records import Document
from rephraser.routing import prepare_router
from rephraser.sources import iter_source
from rephraser.sources.count import count_records  # noqa: F401 - part of the planning API


def records_in_scope(cfg: RunConfig, total_records: int) -> int:
    """Records the whole job (all shards) will read: `limit` applies per shard."""
    if cfg.source.limit is None:
        return total_records
    return min(total_records, cfg.source.limit * cfg.source.shard_count)


def engine_window(cfg: RunConfig) -> int:
    """Requests the engine really decodes together: the runner's in-flight limit, capped by the
    engine's own batch (its spec: llama.cpp `parallel` sequences, vLLM max_num_seqs)."""
    return engine_spec(cfg.engine.kind).batch_window(cfg.engine, cfg.max_in_flight)


def pilot_config(cfg: RunConfig, pilot_docs: int, out_dir: Path) -> RunConfig:
    data = cfg.model_dump(mode="json")
    data["source"].update(limit=pilot_docs, shard_index=0, shard_count=1)
    data["output"]["dir"] = str(out_dir)
    return validate(data, origin="pilot config")


@dataclass
class PilotResult:
    measurement: PilotMeasurement
    documents: int  # valid documents the pilot read
    records: int  # records the pilot read (valid + rejected at input)
    stats: RunStats
    units_per_document: float | None = None  # requests per valid document (routed: counted on the pilot's documents)


def _requests(stats: RunStats) -> int:
    return sum(v.ok + v.rejected + v.failed for v in stats.per_prompt.values())


def _session(stats: RunStats) -> Session:
    if stats.session is None:
        raise ValueError("the pilot's statistics have no session (not a single shard's stats)")
    return stats.session


def measure_pilot(first: tuple[RunStats, float], second: tuple[RunStats, float] | None,
                  window: int, hardware: str) -> PilotResult:
    """Turn the stats of a pilot (one or two stages, each with the wall time around run_config)
    into a PilotMeasurement.

    Two stages separate the fixed cost from the per-round latency: stage 1 (about one round) pays
    start-up and first-call warm-up; stage 2 resumes the same folder for the rest of the pilot, so its
    generation time is (almost) rounds x latency. One stage: the fixed part is only the engine start.
    """
    stats1, total1 = first
    last, total = (second[0], total1 + second[1]) if second else (stats1, total1)
    per_prompt = last.per_prompt.values()
    units1 = _session(stats1).units_run
    round_s = None
    if second is not None and _session(second[0]).units_run > 0:
        units2 = _session(second[0]).units_run
        round_s = _session(second[0]).wall_s / math.ceil(units2 / max(window, 1))
        fixed = total1 - math.ceil(units1 / max(window, 1)) * round_s
    else:
        fixed = total1 - _session(stats1).wall_s  # engine start, server launch, resume scan
    m = PilotMeasurement(
        units=_requests(last),
        units_ok=sum(v.ok for v in per_prompt),
        input_tokens=sum(v.prompt_tokens for v in per_prompt),
        output_tokens=sum(v.completion_tokens for v in per_prompt),
        output_tokens_ok=sum(v.ok_completion_tokens for v in per_prompt),
        wall_s=total,
        startup_s=min(max(fixed, 0.0), total * 0.999),
        window=window,
        hardware=hardware,
        round_latency_s=round_s,
    )
    return PilotResult(m, last.inputs.documents, last.inputs.records, last)


def run_pilot(cfg: RunConfig, pilot_docs: int, keep_dir: Path | None = None, hardware: str = "this machine") -> PilotResult:
    """Rephrase the first `pilot_docs` records in two stages (about one round, then the rest)."""
    window = engine_window(cfg)
    per_doc = units_per_document(cfg, pilot_docs)  # routed: counted on the very documents the pilot runs
    stage1_docs = max(1, min(pilot_docs // 2, math.ceil(window / per_doc) if per_doc > 0 else pilot_docs))

    def timed(limit: int, folder: Path) -> tuple[RunStats, float]:
        t0 = time.monotonic()
        stats = run_config(pilot_config(cfg, limit, folder), progress=False)
        return stats, time.monotonic() - t0

    def go(folder: Path) -> PilotResult:
        first = timed(stage1_docs, folder)
        second = timed(pilot_docs, folder) if pilot_docs > stage1_docs else None
        try:
            result = measure_pilot(first, second, window, hardware)
        except ValueError as e:
            raise RephraserError(f"pilot cannot be projected: {e}") from None
        result.units_per_document = per_doc
        return result

    if keep_dir is not None:
        return go(keep_dir)
    with tempfile.TemporaryDirectory(prefix="rephraser-pilot-") as tmp:
        return go(Path(tmp) / "pilot")


ROUTE_SAMPLE = 200  # records a reference plan (no pilot) routes to learn a routed run's requests per document


def units_per_document(cfg: RunConfig, sample_records: int = ROUTE_SAMPLE) -> float:
    """Requests per valid document: every prompt (x samples), or with routes the mean over the documents
    of the first `sample_records` records of what the runner's own routing gives them (generate/routes.py),
    which the caller scales to the counted input. Only that sample is read and routed (not the whole
    input): a route reading classifier scores scores just the sample, in memory, writing no cache."""
    samples = _samples(cfg)
    if cfg.routing is None:
        return len(cfg.prompts) * samples
    src = cfg.source.model_copy(update={"limit": sample_records, "shard_index": 0, "shard_count": 1})
    records = list(iter_source(src))
    docs = sum(isinstance(r, Document) for r in records)
    if docs == 0:  # nothing to route in the sample: the upper bound, as without routes
        return len(cfg.prompts) * samples
    prompts = resolve_prompts(cfg.prompts)
    names = {ref: p.name for ref, p in zip(cfg.prompts, prompts, strict=True)}  # as the shard maps them
    router = prepare_router(cfg.routing, lambda: records, out=None, write=False)
    return count_units(records, router, names, prompts) / docs * samples


def _samples(cfg: RunConfig) -> int:
    """Requests per unit: the samples of a `samples` rollout, else one."""
    return cfg.sampling.n if cfg.rollout.kind == "samples" else 1


def _routed_note(cfg: RunConfig, per_doc: float) -> list[str]:
    if cfg.routing is None:
        return []
    return [f"routes: {per_doc:.2f} requests per document (its route's prompts, counted on a sample), "
            f"not {len(cfg.prompts) * _samples(cfg)}"]


def plan_from_pilot(cfg: RunConfig, pilot: PilotResult, total_records: int, *, price_per_hour: float,
                    target_tokens: float | None, devices: int = 1) -> Projection:
    records = records_in_scope(cfg, total_records)
    valid_share = pilot.documents / pilot.records if pilot.records else 1.0
    per_doc = units_per_document(cfg) if pilot.units_per_document is None else pilot.units_per_document
    units = round(round(records * valid_share) * per_doc)
    p = project_from_pilot(pilot.measurement, units, price_per_hour=price_per_hour,
                           target_tokens=target_tokens, devices=devices)
    p.notes += _routed_note(cfg, per_doc)
    if valid_share < 1:
        p.notes.append(f"{1 - valid_share:.1%} of pilot records were rejected at input; assumed for the full input")
    return p


def plan_from_reference(cfg: RunConfig, model: str, total_records: int, *, price_per_hour: float,
                        target_tokens: float | None, devices: int = 1,
                        output_tokens_per_doc: float | None = None) -> Projection:
    per_doc = units_per_document(cfg)
    units = round(records_in_scope(cfg, total_records) * per_doc)
    kw: dict[str, Any] = {}
    if output_tokens_per_doc is not None:
        kw["output_tokens_per_unit"] = output_tokens_per_doc
    try:
        p = project_from_reference(model, units, price_per_hour=price_per_hour, target_tokens=target_tokens,
                                   devices=devices, **kw)
    except KeyError as e:
        raise RephraserError(str(e.args[0])) from None
    p.notes += _routed_note(cfg, per_doc)
    return p
