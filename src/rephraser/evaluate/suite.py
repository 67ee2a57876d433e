"""Run the benchmark suite on a ScoringModel and write lighteval-like results.

results.json:
  {config_general: {model, profile, definitions, tokenization, datasets, prob_norm_token_variant,
                    num_fewshot, seed, max_items_per_task, tasks, duration_s, ...},
   results: {task: {prob_norm_token, prob_norm_token_stderr, acc, acc_stderr, ..., n_items}},
   task_info: {task: {category, note[, lighteval_task]}},
   categories: {GK: v, ...}, categories_missing: [...], macro: v, micro: v, metric: "prob_norm_token",
   tasks_missing: {task: reason}}
Per-item details (log-probs of every choice, prediction, metrics) go to a JSONL file beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_open, atomic_write_json
from rephraser.errors import RephraserError
from rephraser.evaluate.definitions import get_definitions, primary_metric
from rephraser.evaluate.score import ScoringModel, aggregate, score_items, task_metrics
from rephraser.evaluate.tasks import TASKS, TaskMissing
from rephraser.evaluate.tasks.study import STUDY_TASKS
from rephraser.evaluate.tasks.study_data import resolve_datasets

PROFILES: dict[str, int] = {"quick": 30, "full": 1000}  # items per task
DEFAULT_SEED = 1234
DEFAULT_FEWSHOT = 3


def resolve_tasks(names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise RephraserError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    return list(dict.fromkeys(names))


def run_suite(
    model: ScoringModel,
    *,
    profile: str = "quick",
    tasks: Sequence[str] | None = None,
    seed: int = DEFAULT_SEED,
    num_fewshot: int = DEFAULT_FEWSHOT,
    max_items: int | None = None,
    progress: Callable[[str], None] | None = None,
    definitions: str = "rephraser",
    datasets: str | None = None,
    prob_variant: str = "gold",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score every requested task; returns (results, per-item details).

    `definitions` picks the task definitions (evaluate/definitions.py); `datasets` (lighteval
    definitions only) names where the study's real datasets are (study_data.py): tasks without a
    named source are then reported missing rather than scored on a stand-in.
    """
    if profile not in PROFILES:
        raise RephraserError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    defs = get_definitions(definitions)
    metric = primary_metric(prob_variant)
    n_items = max_items if max_items is not None else PROFILES[profile]
    names = resolve_tasks(tasks)
    sources = None
    if datasets is not None:
        if not defs.accepts_datasets:
            raise RephraserError("the study's real datasets are scored with --definitions lighteval "
                                 "(the study's own task definitions)")
        sources = resolve_datasets(datasets)
    if hasattr(model, "with_tokenization"):
        model = model.with_tokenization(defs.tokenization)
    started = time.time()
    per_task: dict[str, dict[str, float]] = {}
    info: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    details: list[dict[str, Any]] = []
    for name in names:
        spec = TASKS[name]
        try:
            if sources is not None and name not in sources:
                raise TaskMissing(f"no source named for {name} in --datasets {datasets}")
            loaded = defs.load(name, n_items, seed, num_fewshot, sources[name] if sources else None)
        except TaskMissing as e:
            missing[name] = str(e)
            if progress:
                progress(f"{name}: missing ({e})")
            continue
        t0 = time.time()
        item_results = score_items(model, loaded.items)
        per_task[name] = task_metrics(item_results, loaded.groups)
        info[name] = {"category": spec.category, "note": loaded.note}
        if defs.name == "lighteval":
            info[name]["lighteval_task"] = STUDY_TASKS[name].lighteval
        details.extend({"task": name, **r.detail()} for r in item_results)
        if progress:
            progress(f"{name}: {per_task[name][metric]:.4f} {metric} "
                     f"({len(item_results)} items, {time.time() - t0:.1f}s)")
    summary = aggregate(per_task, {n: TASKS[n].category for n in per_task}, metric=metric)
    results = {
        "config_general": {
            "model": model.name, "profile": profile, "definitions": defs.name,
            "tokenization": getattr(model, "tokenization", "the model's own"), "datasets": datasets or "offline",
            "prob_norm_token_variant": prob_variant, "num_fewshot": num_fewshot, "seed": seed,
            "max_items_per_task": n_items, "tasks": names, "formulation": "cloze",
            "duration_s": round(time.time() - started, 3),
        },
        "results": per_task,
        "task_info": info,
        **summary,
        "tasks_missing": missing,
    }
    return results, details


def details_path(results_path: str | Path) -> Path:
    p = Path(results_path)
    return p.with_name(p.stem + ".details.jsonl")


def write_results(results: dict[str, Any], details: list[dict[str, Any]], path: str | Path) -> Path:
    """Write results JSON and the per-item details JSONL beside it; returns the details path."""
    p = Path(path)
    atomic_write_json(p, results)
    d = details_path(p)
    with atomic_open(d, "w") as fh:
        for row in details:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return d
