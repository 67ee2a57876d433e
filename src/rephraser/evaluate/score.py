"""Scoring: the ScoringModel protocol, per-item metrics, and task/category aggregation.

Metrics (the FinePhrase study's protocol; names follow lighteval):
  prob_norm_token      exp(mean token log-prob of a gold continuation): the geometric mean of its token
                       probabilities, the highest over the item's golds. The study's headline metric
                       (lighteval <= 0.10 requested only the golds for it); it still moves for tiny
                       models whose accuracy sits at chance.
  prob_norm_token_all  the same maximum taken over EVERY choice, golds or not: what lighteval 0.11-0.13
                       computes, because it is handed the probabilities of all choices. Equal to
                       prob_norm_token when every choice is a gold (single-answer and QA tasks).
  acc                  the choice with the highest summed log-prob is a gold one.
  acc_norm             the same, with log-prob divided by the continuation's UTF-8 byte count.
  acc_norm_token       the same, with log-prob divided by the continuation's token count (lighteval's
                       LogProbTokenNorm accuracy, which the study logged beside prob_norm_token).
  gold_bpb             bits per byte of the primary gold continuation.
acc/acc_norm/acc_norm_token are only defined for items with at least one wrong choice.
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
    golds: tuple[int, ...] = ()  # every correct choice; () means just `gold`

    def __post_init__(self) -> None:
        if not self.golds:
            object.__setattr__(self, "golds", (self.gold,))

    def _token_norm(self, i: int) -> float:
        return self.logprobs[i] / max(1, self.n_tokens[i])

    @property
    def prob_norm_token(self) -> float:
        return math.exp(max(self._token_norm(g) for g in self.golds))

    @property
    def prob_norm_token_all(self) -> float:
        return math.exp(max(self._token_norm(i) for i in range(len(self.logprobs))))

    @property
    def gold_bpb(self) -> float:
        return -self.logprobs[self.gold] / (max(1, self.n_bytes[self.gold]) * math.log(2))

    @property
    def pred(self) -> int:
        return _argmax(self.logprobs)

    @property
    def pred_norm(self) -> int:
        return _argmax([lp / max(1, nb) for lp, nb in zip(self.logprobs, self.n_bytes, strict=True)])

    @property
    def pred_norm_token(self) -> int:
        return _argmax([self._token_norm(i) for i in range(len(self.logprobs))])

    def metrics(self) -> dict[str, float]:
        out = {"prob_norm_token": self.prob_norm_token, "prob_norm_token_all": self.prob_norm_token_all,
               "gold_bpb": self.gold_bpb}
        if len(self.logprobs) > len(self.golds):  # some choice is wrong, so picking can fail
            out["acc"] = float(self.pred in self.golds)
            out["acc_norm"] = float(self.pred_norm in self.golds)
            out["acc_norm_token"] = float(self.pred_norm_token in self.golds)
        return out

    def detail(self) -> dict[str, Any]:
        extra = {"golds": list(self.golds)} if len(self.golds) > 1 else {}
        return {
            "id": self.item_id, "gold": self.gold, **extra, "logprobs": list(self.logprobs),
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
                                  tuple(c[2] for c in chunk), it.golds))
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


def task_metrics(results: Sequence[ItemResult], groups: dict[str, str] | None = None) -> dict[str, float]:
    """Mean and standard error of every item metric, plus the item count.

    With `groups` (item id -> group) the task value is the mean of the group means, and its standard
    error combines the groups' (sqrt(sum se^2) / n_groups): lighteval's "_average" over MMLU subjects.
    """
    if groups:
        by_group: dict[str, list[ItemResult]] = {}
        for r in results:
            by_group.setdefault(groups[r.item_id], []).append(r)
        parts = [task_metrics(rs) for rs in by_group.values()]
        out: dict[str, float] = {}
        for k in sorted({k for p in parts for k in p if k != "n_items" and not k.endswith("_stderr")}):
            having = [p for p in parts if k in p]
            out[k] = sum(p[k] for p in having) / len(having)
            out[f"{k}_stderr"] = math.sqrt(sum(p[f"{k}_stderr"] ** 2 for p in having)) / len(having)
        out["n_items"] = len(results)
        out["n_groups"] = len(parts)
        return out
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
