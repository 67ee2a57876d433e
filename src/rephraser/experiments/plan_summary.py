"""The figures `experiment run --dry-run` prints under its tables, as one dict.

The same dict feeds the printed summary and bench/plan_figures.py (which writes it into the docs), so a
number a doc quotes is the number the command prints. Device-hours are split by stage kind, because a
total alone hides whether generation or training dominates the bill.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TypedDict

from rephraser.experiments.cells import Cell
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.estimate import Estimate


def runs_text(cells: list[Cell]) -> str:
    """'96 cells x 1 run + 5 cells x 9 runs': how many training runs each cell has (seed grids included)."""
    counts = Counter(len(c.train) for c in cells)
    return " + ".join(f"{n} cell{'s' * (n != 1)} x {r} run{'s' * (r != 1)}" for r, n in sorted(counts.items()))


class PlanSummary(TypedDict):
    name: str
    cells: int
    training_runs: int
    runs_text: str
    stages_to_run: int
    stages_done: int
    generated_tokens: float
    training_tokens: float
    seconds: float | None  # one stage after another; None when a stage has no estimate
    device_hours: float
    device_hours_by_kind: dict[str, float]
    cost: float
    price_per_hour: float


def summarize(cfg: ExperimentConfig, cells: list[Cell], est: Estimate) -> PlanSummary:
    tokens: dict[str, float] = {}
    device_h: dict[str, float] = {}
    for s in est.stages:
        tokens[s.kind] = tokens.get(s.kind, 0.0) + (s.tokens or 0.0)
        if s.device_hours:
            device_h[s.kind] = device_h.get(s.kind, 0.0) + s.device_hours
    return {
        "name": cfg.name,
        "cells": len(cells),
        "training_runs": sum(len(c.train) for c in cells),
        "runs_text": runs_text(cells),
        "stages_to_run": len(est.stages),
        "stages_done": est.done,
        "generated_tokens": tokens.get("generate", 0.0),
        "training_tokens": tokens.get("train", 0.0),
        "seconds": est.total_seconds(),  # one stage after another; None when a stage has no estimate
        "device_hours": sum(device_h.values()),
        "device_hours_by_kind": device_h,
        "cost": sum(s.cost or 0.0 for s in est.stages),
        "price_per_hour": cfg.estimate.price_per_hour,
    }


def device_hours_text(summary: PlanSummary) -> str:
    """'36,608.5 GPU-hours (generate 20,968.4 + train 15,640.1) ≈ $91,521 at $2.5/h', or '' on CPU."""
    total = summary["device_hours"]
    if not total:
        return ""
    parts = " + ".join(f"{k} {v:,.1f}" for k, v in summary["device_hours_by_kind"].items())
    return (f"{total:,.1f} GPU-hours ({parts}) ≈ ${summary['cost']:,.0f} at "
            f"${summary['price_per_hour']}/h")


def title(summary: PlanSummary, out: Path) -> str:
    return (f"{summary['name']}: {summary['cells']} cells, {summary['training_runs']} training runs "
            f"({summary['runs_text']}) -> {out}")
