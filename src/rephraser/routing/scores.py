"""Classifier scores for routing, computed once per document and cached in the run folder.

The scoring pass reads the same shard of the source that generation reads (same plan, same
`--shard i/N`), so it spreads over Slurm arrays and Ray tasks the way generation does: every
generate shard runs it for its own documents before routing, and `rephraser route --shard i/N` runs
it alone. Scores are keyed by the document's text hash under a folder named after the classifier and
its identity (path + label): a rerun, another shard that meets the same text, or `rephraser stats`
reads them back instead of loading the model again. Each pass commits its new scores as one more
uniquely named Parquet part (written whole), so concurrent shards never overwrite each other.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rephraser import storage
from rephraser.config import RunConfig
from rephraser.logs import get_logger
from rephraser.postprocess.classifiers import TextScorer, load_classifier, summarize
from rephraser.records import Document, text_hash
from rephraser.route_config import ClassifierSource, RoutingConfig
from rephraser.run_folder import iter_rows, read_config

log = get_logger(__name__)

SCORES_DIR = "scores"
_SCHEMA = pa.schema([pa.field("text_hash", pa.string(), nullable=False), pa.field("score", pa.float64())])
COMMIT_EVERY = 4096  # scores held before a part is committed: a killed pass loses at most this many


def cache_folder(out: storage.PathLike, name: str, src: ClassifierSource) -> storage.Location:
    ident = hashlib.sha256(f"{src.path}\0{src.label or ''}".encode()).hexdigest()[:12]
    return storage.as_location(out) / SCORES_DIR / f"{name}-{ident}"


def read_cache(out: storage.PathLike, name: str, src: ClassifierSource) -> dict[str, float]:
    """text hash -> score of every committed part (empty when nothing was scored yet)."""
    folder = cache_folder(out, name, src)
    if not storage.is_dir(folder):
        return {}
    scores: dict[str, float] = {}
    for part in sorted(storage.glob(folder, "*.parquet")):
        with storage.open_read(part) as fh:
            t = pq.read_table(fh)
        scores.update(zip(t.column("text_hash").to_pylist(), t.column("score").to_pylist(), strict=True))
    return scores


def _commit(out: storage.PathLike, name: str, src: ClassifierSource, tag: str, new: dict[str, float]) -> None:
    table = pa.table({"text_hash": list(new), "score": list(new.values())}, schema=_SCHEMA)
    storage.write_table(table, cache_folder(out, name, src) / f"{tag}-{uuid.uuid4().hex[:12]}.parquet")


def score_documents(routing: RoutingConfig, docs: Iterable[Document], *, out: storage.PathLike | None,
                    tag: str = "s00000-of-00001", write: bool = True) -> dict[str, dict[str, float]]:
    """text hash -> {classifier: score} for `docs`, for the classifiers some route reads. Cached scores
    (under `out`) are reused; missing ones are computed in batches and committed (unless write=False)."""
    names = sorted(routing.score_names())
    if not names:
        return {}
    cached = {n: (read_cache(out, n, routing.classifiers[n]) if out is not None else {}) for n in names}
    scorers: dict[str, TextScorer] = {}
    result: dict[str, dict[str, float]] = {}
    fresh: dict[str, dict[str, float]] = {n: {} for n in names}
    computed = 0
    for batch in _batches(docs, routing.score_batch):
        for name in names:
            todo = {d.text_hash: d.text for d in batch if d.text_hash not in cached[name] and d.text_hash not in fresh[name]}
            if todo:
                if name not in scorers:
                    src = routing.classifiers[name]
                    spec = f"{name}={src.path}" + (f"#{src.label}" if src.label else "")
                    scorers[name] = load_classifier(spec, routing.device)
                fresh[name].update(zip(todo, scorers[name].score(list(todo.values())), strict=True))
                computed += len(todo)
            for d in batch:
                h = d.text_hash
                result.setdefault(h, {})[name] = cached[name][h] if h in cached[name] else fresh[name][h]
            if write and out is not None and len(fresh[name]) >= COMMIT_EVERY:
                _commit(out, name, routing.classifiers[name], tag, fresh[name])
                cached[name].update(fresh[name])
                fresh[name] = {}
    if write and out is not None:
        for name in names:
            if fresh[name]:
                _commit(out, name, routing.classifiers[name], tag, fresh[name])
    log.info(f"routing scores: {len(result)} documents, {computed} scored now, the rest from the cache")
    return result


def _batches(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for d in docs:
        batch.append(d)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cached_scores(out: storage.PathLike, routing: RoutingConfig) -> dict[str, dict[str, float]]:
    """Every cached score of the run's routing classifiers: what `stats` reads (no model is loaded)."""
    merged: dict[str, dict[str, float]] = {}
    for name in sorted(routing.score_names()):
        for h, v in read_cache(out, name, routing.classifiers[name]).items():
            merged.setdefault(h, {})[name] = v
    return merged


def scores_by_route(out: storage.PathLike) -> dict[str, Any]:
    """The cached source scores of a routed run, summarised per route (no model loaded): what `stats`
    shows beside each route's outcomes. {} when the run has no routes or no scores were cached."""
    try:
        routing = RunConfig.model_validate(read_config(out)).routing
    except Exception:  # noqa: BLE001 - an older or hand-edited config.yaml: nothing to show, not an error
        return {}
    if routing is None or not routing.score_names():
        return {}
    cache = cached_scores(out, routing)
    if not cache:
        return {}
    seen: set[str] = set()
    per_route: dict[str, dict[str, list[float]]] = {}
    for _part, row in iter_rows(out, ("id", "route", "source_text")):
        if not row.get("route") or row["id"] in seen:
            continue
        seen.add(row["id"])
        for name, v in cache.get(text_hash(row.get("source_text") or ""), {}).items():
            per_route.setdefault(row["route"], {}).setdefault(name, []).append(v)
    return {"classifiers": sorted(routing.score_names()),
            "routes": {r: {n: summarize(v) for n, v in vals.items()} for r, vals in sorted(per_route.items())}}
