"""Do quality-classifier scores of a cell's generated data predict its macro score? (Spearman over cells)

A cell's score for a classifier is the mean over its generate stage's ok outputs, read from the
`stats_quality.json` that `rephraser stats STAGE_DIR --classifier NAME=PATH` writes into the stage folder
(OUT/stages/generate/<key>/). Cells that share a generate stage (several mix ratios) share its score.
The study found such scores predict downstream results poorly: its best Spearman was 0.61.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

from rephraser.experiments.cells import Cell
from rephraser.experiments.rows import Row

if TYPE_CHECKING:
    from rich.console import Console

STUDY_BEST_SPEARMAN = 0.61
MIN_CELLS = 3


def _cell_scores(stage_dir: Path) -> dict[str, float]:
    """classifier -> mean score over the stage's ok outputs (all prompts, weighted by their counts)."""
    try:
        doc = json.loads((stage_dir / "stats_quality.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    sums: dict[str, list[float]] = {}
    for scores in ((doc.get("classifier_scores") or {}).get("prompts") or {}).values():
        for name, s in scores.items():
            if s.get("n"):
                acc = sums.setdefault(name, [0.0, 0.0])
                acc[0] += s["mean"] * s["n"]
                acc[1] += s["n"]
    return {name: total / n for name, (total, n) in sums.items()}


class Point(TypedDict):
    cell: str
    score: float
    macro: float


class ClassifierEntry(TypedDict):
    cells: int
    points: list[Point]
    spearman: float | None
    p_value: float | None
    reason: NotRequired[str]


class Correlation(TypedDict):
    """results.json: classifier_correlation."""

    classifiers: dict[str, ClassifierEntry]
    study_best_spearman: float
    note: str


def classifier_correlation(cells: list[Cell], summary: list[Row], out: Path) -> Correlation | None:
    """Per classifier: Spearman rank correlation of cell score vs cell macro mean; None without any score."""
    macro = {s["cell"]: s.get("macro_mean") for s in summary}
    points: dict[str, list[Point]] = {}
    for cell in cells:
        m = macro.get(cell.name)
        if cell.generate is None or not isinstance(m, (int, float)):
            continue
        for name, score in _cell_scores(cell.generate.dir(out)).items():
            points.setdefault(name, []).append({"cell": cell.name, "score": round(score, 4), "macro": m})
    if not points:
        return None
    out_doc: dict[str, ClassifierEntry] = {}
    for name, pts in sorted(points.items()):
        entry: ClassifierEntry = {"cells": len(pts), "points": pts, "spearman": None, "p_value": None}
        if len(pts) >= MIN_CELLS:
            from scipy.stats import spearmanr

            res = spearmanr([p["score"] for p in pts], [p["macro"] for p in pts])
            rho, pval = float(res.statistic), float(res.pvalue)
            entry["spearman"] = None if rho != rho else round(rho, 4)  # NaN when one side is constant
            entry["p_value"] = None if pval != pval else round(pval, 4)
        else:
            entry["reason"] = f"needs scores for at least {MIN_CELLS} cells"
        out_doc[name] = entry
    return {"classifiers": out_doc, "study_best_spearman": STUDY_BEST_SPEARMAN,
            "note": "cell score = mean classifier score of its generated outputs; the study's best Spearman "
                    "between such scores and downstream results was 0.61 (weak predictors)"}


def print_correlation(corr: Correlation | None, console: Console) -> None:
    if not corr:
        return
    for name, e in corr["classifiers"].items():
        rho = "-" if e["spearman"] is None else f"{e['spearman']:+.2f} (p={e['p_value']:.2f})"
        console.print(f"classifier {name} vs macro: Spearman {rho} over {e['cells']} cells "
                      f"(the study's best: {corr['study_best_spearman']})", highlight=False)
