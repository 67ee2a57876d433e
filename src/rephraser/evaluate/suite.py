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
from rephraser.evaluate.definitions import Definitions, get_definitions, primary_metric
from rephraser.evaluate.fewshot_fit import fit_fewshot
from rephraser.evaluate.score import ScoringModel, aggregate, score_items, task_metrics
from rephraser.evaluate.scoring_models import check_dtype
from rephraser.evaluate.tasks import TASKS, TaskMissing
from rephraser.evaluate.tasks.study import STUDY_TASKS
from rephraser.evaluate.tasks.study_data import resolve_datasets

# items per task; "study" is the study's own scoring: its 1000 items, its lighteval 0.10 definitions with the
# |3|1 few-shot truncation, bf16 where the device supports it (evaluate/scoring_models.py)
PROFILES: dict[str, int] = {"quick": 30, "full": 1000, "study": 1000}
DEFAULT_SEED = 1234
DEFAULT_FEWSHOT = 3


def resolve_tasks(names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise RephraserError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    return list(dict.fromkeys(names))


def default_definitions(profile: str) -> str:
    return "lighteval" if profile == "study" else "rephraser"


def check_options(*, profile: str, tasks: Sequence[str] | None, definitions: str, datasets: str | None,
                  prob_variant: str, dtype: str = "float32") -> tuple[Definitions, str, list[str], dict | None]:
    """Every option checked before any model loads: (definitions, metric, task names, dataset sources).

    Each bad value is one RephraserError line naming the option and the values it accepts.
    """
    if profile not in PROFILES:
        raise RephraserError(f"unknown --profile {profile!r}; choose from {', '.join(PROFILES)}")
    check_dtype(dtype)
    defs = get_definitions(definitions)
    metric = primary_metric(prob_variant)
    names = resolve_tasks(tasks)
    sources = None
    if datasets is not None:
        if not defs.accepts_datasets:
            raise RephraserError("--datasets: the study's real datasets are scored with --definitions lighteval "
                                 "(the study's own task definitions)")
        sources = resolve_datasets(datasets)
    return defs, metric, names, sources


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
    truncate_fewshot: bool | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score every requested task; returns (results, per-item details).

    `definitions` picks the task definitions (evaluate/definitions.py); `datasets` (lighteval
    definitions only) names where the study's real datasets are (study_data.py): tasks without a
    named source are then reported missing rather than scored on a stand-in. `truncate_fewshot` (default:
    on under the lighteval definitions, the study's |3|1) drops shots from the end of an item whose request
    does not fit the model's window (evaluate/fewshot_fit.py).
    """
    defs, metric, names, sources = check_options(profile=profile, tasks=tasks, definitions=definitions,
                                                 datasets=datasets, prob_variant=prob_variant)
    n_items = max_items if max_items is not None else PROFILES[profile]
    truncate = defs.name == "lighteval" if truncate_fewshot is None else truncate_fewshot
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
        items, cut = fit_fewshot(loaded.items, model) if truncate and hasattr(model, "fits") else (loaded.items, 0)
        item_results = score_items(model, items)
        per_task[name] = task_metrics(item_results, loaded.groups)
        info[name] = {"category": spec.category, "note": loaded.note}
        if truncate:
            info[name]["items_with_fewer_shots"] = cut
        if defs.name == "lighteval":
            info[name]["lighteval_task"] = STUDY_TASKS[name].lighteval
        # the group (MMLU subject) lets the grid's item bootstrap average subjects as the task score does
        details.extend({"task": name, **({"group": loaded.groups[r.item_id]} if loaded.groups else {}), **r.detail()}
                       for r in item_results)
        if progress:
            progress(f"{name}: {per_task[name][metric]:.3g} {metric} "
                     f"({len(item_results)} items, {time.time() - t0:.1f}s)")
    summary = aggregate(per_task, {n: TASKS[n].category for n in per_task}, metric=metric)
    results = {
        "config_general": {
            "model": model.name, "profile": profile, "definitions": defs.name,
            "tokenization": getattr(model, "tokenization", "the model's own"), "datasets": datasets or "offline",
            "prob_norm_token_variant": prob_variant, "num_fewshot": num_fewshot, "seed": seed,
            "max_items_per_task": n_items, "tasks": names, "formulation": "cloze",
            "dtype": getattr(model, "dtype", "float32"),
            "fewshot_truncation": "drop shots from the end until the request fits (|3|1)" if truncate else "off",
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
