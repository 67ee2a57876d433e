"""Scoring: the ScoringModel protocol, per-item metrics, and task/category aggregation.

Metrics (facts §6; names follow lighteval):
  prob_norm_token  exp(mean token log-prob of the gold continuation): the geometric mean of its token
                   probabilities. The study's headline metric; it still moves for tiny models whose
                   accuracy sits at chance.
  acc              the choice with the highest summed log-prob is the gold one.
  acc_norm         the same, with log-prob divided by the continuation's UTF-8 byte count.
  gold_bpb         bits per byte of the gold continuation.
acc/acc_norm are only defined for tasks with two or more choices (single-answer tasks report none).
Macro = mean of the category means (headline); micro = mean over tasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rephraser.evaluate.tasks.items import CATEGORIES, Item

PRIMARY_METRIC = "prob_norm_token"


@runtime_checkable
class ScoringModel(Protocol):
    """Anything that can give the log-probability of continuations under contexts."""

    name: str

    def score(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, int, int]]:
        """For each (context, continuation): (sum of token log-probs, n_tokens, n_bytes)."""
        ...


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    gold: int
    logprobs: tuple[float, ...]  # summed, per choice
    n_tokens: tuple[int, ...]
    n_bytes: tuple[int, ...]

    @property
    def prob_norm_token(self) -> float:
        return math.exp(self.logprobs[self.gold] / max(1, self.n_tokens[self.gold]))

    @property
    def gold_bpb(self) -> float:
        return -self.logprobs[self.gold] / (max(1, self.n_bytes[self.gold]) * math.log(2))

    @property
    def pred(self) -> int:
        return _argmax(self.logprobs)

    @property
    def pred_norm(self) -> int:
        return _argmax([lp / max(1, nb) for lp, nb in zip(self.logprobs, self.n_bytes, strict=True)])

    def metrics(self) -> dict[str, float]:
        out = {"prob_norm_token": self.prob_norm_token, "gold_bpb": self.gold_bpb}
        if len(self.logprobs) > 1:
            out["acc"] = float(self.pred == self.gold)
            out["acc_norm"] = float(self.pred_norm == self.gold)
        return out

    def detail(self) -> dict[str, Any]:
        return {
            "id": self.item_id, "gold": self.gold, "logprobs": list(self.logprobs),
            "n_tokens": list(self.n_tokens), "n_bytes": list(self.n_bytes),
            "pred": self.pred, "pred_norm": self.pred_norm, **self.metrics(),
        }


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i])  # first index wins ties


def score_items(model: ScoringModel, items: Sequence[Item]) -> list[ItemResult]:
    """Score every choice of every item in one call so the model can batch across items."""
    requests: list[tuple[str, str]] = []
    for it in items:
        requests.extend(it.requests())
    scored = model.score(requests)
    if len(scored) != len(requests):
        raise RuntimeError(f"model returned {len(scored)} scores for {len(requests)} requests")
    results, pos = [], 0
    for it in items:
        chunk = scored[pos : pos + len(it.choices)]
        pos += len(it.choices)
        results.append(ItemResult(it.id, it.gold, tuple(c[0] for c in chunk), tuple(c[1] for c in chunk),
                                  tuple(c[2] for c in chunk)))
    return results


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def task_metrics(results: Sequence[ItemResult]) -> dict[str, float]:
    """Mean and standard error of every item metric, plus the item count."""
    per_metric: dict[str, list[float]] = {}
    for r in results:
        for k, v in r.metrics().items():
            per_metric.setdefault(k, []).append(v)
    out: dict[str, float] = {}
    for k, vals in per_metric.items():
        out[k], out[f"{k}_stderr"] = mean_stderr(vals)
    out["n_items"] = len(results)
    return out


def aggregate(task_results: dict[str, dict[str, float]], task_category: dict[str, str],
              metric: str = PRIMARY_METRIC) -> dict[str, Any]:
    """Category means, macro (mean of category means) and micro (mean of tasks) over scored tasks.

    A category none of whose tasks was scored is listed under `categories_missing` and left out of
    the macro average rather than counted as zero.
    """
    by_cat: dict[str, list[float]] = {}
    for task, res in task_results.items():
        by_cat.setdefault(task_category[task], []).append(res[metric])
    categories = {c: sum(v) / len(v) for c in CATEGORIES if (v := by_cat.get(c))}
    task_values = [res[metric] for res in task_results.values()]
    return {
        "metric": metric,
        "categories": categories,
        "categories_missing": [c for c in CATEGORIES if c not in categories],
        "macro": sum(categories.values()) / len(categories) if categories else None,
        "micro": sum(task_values) / len(task_values) if task_values else None,
    }
