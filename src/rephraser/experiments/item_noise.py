"""Benchmark-item noise of every cell's macro gap: a paired bootstrap over the evaluated items.

Every run of a grid is scored on the same items (the evaluation seed picks them, not the training
seed), and its per-item scores are in the evaluate stage's details file. One bootstrap resample draws,
per task (and per MMLU subject where the suite averages subjects), as many items as the task has,
with replacement, and applies THE SAME draw to every run of every cell. Each run's macro is
recomputed from the drawn items the way the suite computes it (task mean, or mean of subject means;
category means; their mean), each cell's mean over its seeds, and the cell's gap to the baseline.
The variance of that gap over the resamples is the item noise significance.compare adds to the seed
noise. Pairing matters: items that are hard for every model move every cell together and cancel in
the gap; only how differently the cells respond to the item sample is counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # numpy is imported when the bootstrap runs
    import numpy as np
    from numpy.typing import NDArray

RESAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same results folder always gives the same item noise

Scores = dict[str, dict[str, tuple[str, float]]]  # task -> item id -> (group, score)


class BootstrapInfo(TypedDict):
    """What the item noise was computed on (results.json: significance.item_bootstrap)."""

    resamples: int
    tasks: int
    items: int


def read_item_scores(details: Path, metric: str) -> Scores | None:
    """Per-item scores of one run from its details JSONL; None when the file is missing or unreadable."""
    out: Scores = {}
    try:
        with details.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                value = row.get(metric)
                if isinstance(value, (int, float)):
                    task = row["task"]
                    out.setdefault(task, {})[str(row["id"])] = (str(row.get("group") or task), float(value))
    except (OSError, ValueError, KeyError):
        return None
    return out or None


def item_gap_variances(runs: Mapping[str, Sequence[Scores | None]], baseline: str, task_category: Mapping[str, str],
                       resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[dict[str, float | None], BootstrapInfo]:
    """cell -> bootstrap variance of (cell mean macro - baseline mean macro), and what it was computed on.

    `runs` maps a cell to the item scores of each of its evaluated seeds. A cell with a run lacking
    per-item scores gets None (its item noise is unknown), as does every cell when the baseline has none.
    Only tasks scored in every run with item scores, and the items common to all of them, are resampled.
    """
    import numpy as np

    usable: dict[str, list[Scores]] = {}
    for c, rs in runs.items():
        known = [r for r in rs if r is not None]
        if known and len(known) == len(rs):
            usable[c] = known
    result: dict[str, float | None] = {c: None for c in runs}
    if baseline not in usable or len(usable) < 2:
        return result, {"resamples": 0, "tasks": 0, "items": 0}
    flat = [(c, r) for c, rs in usable.items() for r in rs]
    tasks = sorted(set.intersection(*(set(r) for _, r in flat)) & set(task_category))
    rng = np.random.default_rng(seed)
    values_by_cat: dict[str, list[NDArray[np.float64]]] = {}
    n_items = 0
    for task in tasks:
        ids = sorted(set.intersection(*(set(r[task]) for _, r in flat)))
        if not ids:
            continue
        n_items += len(ids)
        groups: dict[str, list[int]] = {}
        for j, item in enumerate(ids):
            groups.setdefault(flat[0][1][task][item][0], []).append(j)
        x = np.array([[r[task][item][1] for item in ids] for _, r in flat])  # runs x items
        task_value = np.zeros((len(flat), resamples))
        for cols in groups.values():
            counts = rng.multinomial(len(cols), np.full(len(cols), 1 / len(cols)), size=resamples)  # resamples x n
            task_value += x[:, cols] @ counts.T / len(cols)
        values_by_cat.setdefault(task_category[task], []).append(task_value / len(groups))
    if not values_by_cat:
        return result, {"resamples": 0, "tasks": 0, "items": 0}
    macro = np.mean([np.mean(v, axis=0) for v in values_by_cat.values()], axis=0)  # runs x resamples
    cell_means: dict[str, NDArray[np.float64]] = {}
    start = 0
    for c, rs in usable.items():
        cell_means[c] = macro[start : start + len(rs)].mean(axis=0)
        start += len(rs)
    for c, m in cell_means.items():
        if c != baseline:
            result[c] = float(np.var(m - cell_means[baseline], ddof=1))
    return result, {"resamples": resamples, "tasks": len(tasks), "items": n_items}
