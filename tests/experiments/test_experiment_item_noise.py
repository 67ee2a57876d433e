"""The paired item bootstrap against what it must give: nothing for a constant shift, var(d)/n otherwise."""

import json
import random
import statistics

import pytest

from rephraser.experiments.item_noise import item_gap_variances, read_item_scores

TASKS = {"t1": "GK", "t2": "RC"}


def _scores(values: dict[str, list[float]]):
    return {task: {f"{task}/{i}": (task, v) for i, v in enumerate(vals)} for task, vals in values.items()}


def test_a_constant_shift_has_no_item_noise_and_item_differences_give_var_over_n():
    rng = random.Random(1)
    base = {t: [rng.random() for _ in range(60)] for t in TASKS}
    shifted = {t: [v + 0.01 for v in vals] for t, vals in base.items()}
    # differs from the baseline item by item in t1 only: gap noise = var(d) / n, halved by the macro's 2 categories
    diffs = [rng.gauss(0, 0.1) for _ in range(60)]
    noisy = {"t1": [v + d for v, d in zip(base["t1"], diffs, strict=True)], "t2": list(base["t2"])}
    runs = {"base": [_scores(base)] * 2, "shift": [_scores(shifted)] * 2, "noisy": [_scores(noisy)] * 2}
    var, info = item_gap_variances(runs, "base", TASKS, resamples=2000)
    assert var["shift"] == pytest.approx(0, abs=1e-20)  # the same draw for every cell: a shift cancels
    expected = statistics.pvariance(diffs) / 60 / 4
    assert var["noisy"] == pytest.approx(expected, rel=0.15)
    assert var["base"] is None and info == {"resamples": 2000, "tasks": 2, "items": 120}


def test_missing_item_scores_leave_the_item_noise_unknown():
    base = _scores({"t1": [0.1, 0.2, 0.3]})
    var, _ = item_gap_variances({"base": [base], "a": [base, None], "b": [base]}, "base", TASKS)
    assert var["a"] is None and var["b"] == pytest.approx(0)
    var, _ = item_gap_variances({"base": [None], "b": [base]}, "base", TASKS)
    assert var == {"base": None, "b": None}


def test_details_are_read_with_their_subject_groups(tmp_path):
    p = tmp_path / "evaluation.details.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"task": "mmlu", "group": "anatomy", "id": "mmlu/anatomy/0", "prob_norm_token": 0.25},
        {"task": "arc_easy", "id": "arc_easy/3", "prob_norm_token": 0.5, "acc": 1.0},
        {"task": "arc_easy", "id": "arc_easy/4"}]))  # no score for the metric: left out
    assert read_item_scores(p, "prob_norm_token") == {"mmlu": {"mmlu/anatomy/0": ("anatomy", 0.25)},
                                                      "arc_easy": {"arc_easy/3": ("arc_easy", 0.5)}}
    assert read_item_scores(tmp_path / "missing.jsonl", "prob_norm_token") is None
