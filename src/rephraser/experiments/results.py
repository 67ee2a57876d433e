"""The results table: one row per cell and seed, aggregated per cell with significance vs a baseline.

Rows are read from the stage markers and evaluation files (not from the cells/ view), so the table
is rebuilt exactly from what ran. Written as OUT/results.csv (per seed), OUT/results_summary.csv (per
cell) and OUT/results.json (both, plus the experiment description).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_open, atomic_write_json
from rephraser.evaluate.definitions import primary_metric
from rephraser.evaluate.score import PRIMARY_METRIC
from rephraser.experiments.cells import Cell, Run
from rephraser.experiments.classifier_correlation import classifier_correlation, print_correlation
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.significance import coefficient_of_variation, compare, mean_std
from rephraser.experiments.stages import read_marker

# Per-seed metrics aggregated per cell; for heldout_bpb lower is better.
SUMMARY_METRICS = ("macro", "micro", "heldout_bpb")
# What the cell's generate stages produced: the same for every seed of a cell.
GENERATION_FIGURES = ("gen_tokens", "compliance", "opening_collapse", "distinct_2", "invented_number_rate",
                      "content_recall")


def evaluation_of(cell: Cell, run: Run, out: Path) -> dict[str, Any] | None:
    stage = cell.evaluate[run]
    if read_marker(stage, out) is None:
        return None
    return json.loads((stage.dir(out) / "evaluation.json").read_text(encoding="utf-8"))


def seed_row(cell: Cell, run: Run, out: Path) -> dict[str, Any] | None:
    """The flat row of one trained+evaluated run of a cell, or None when it has not run yet."""
    ev = evaluation_of(cell, run, out)
    if ev is None:
        return None
    suite = ev["suite"]
    bpbs = [v["bpb"] for v in ev["heldout_bpb"].values() if v]
    seed, data_seed = run
    row: dict[str, Any] = {**cell.describe(), "seed": seed, "data_seed": seed if data_seed is None else data_seed,
                           "macro": suite.get("macro"), "micro": suite.get("micro"),
                           "heldout_bpb": math.fsum(bpbs) / len(bpbs) if bpbs else None}
    for cat, v in (suite.get("categories") or {}).items():
        row[f"cat_{cat}"] = v
    for task, res in (suite.get("results") or {}).items():
        row[f"task_{task}"] = res.get(suite.get("metric", PRIMARY_METRIC))
    gens = [(read_marker(g, out) or {}).get("outputs", {}) for g in cell.generates]
    row.update(gen_tokens=_total([g.get("ok_completion_tokens") for g in gens]),
               compliance=_mean([g.get("format_compliance") for g in gens]),
               opening_collapse=_mean([g.get("opening_collapse") for g in gens]),
               # diversity and faithfulness beside compliance (generate stages written before these were
               # recorded show "-"; `rephraser report` recomputes them from the rows)
               distinct_2=_mean([g.get("distinct_2") for g in gens]),
               invented_number_rate=_mean([g.get("invented_number_rate") for g in gens]),
               content_recall=_mean([g.get("content_recall") for g in gens]))
    tr = (read_marker(cell.train[run], out) or {}).get("outputs", {})
    row.update(train_tokens=tr.get("tokens"), parameters=tr.get("parameters"), mix_heldout_bpb=tr.get("final_bpb"))
    return row


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float))]
    return math.fsum(vals) / len(vals) if vals and len(vals) == len(values) else None


def _total(values: list[Any]) -> int | None:
    vals = [v for v in values if isinstance(v, (int, float))]
    return sum(vals) if vals and len(vals) == len(values) else None


def collect(cells: list[Cell], out: Path) -> list[dict[str, Any]]:
    rows = []
    for cell in cells:
        for run in cell.evaluate:
            r = seed_row(cell, run, out)
            if r is not None:
                rows.append(r)
    return rows


def summarize(cells: list[Cell], rows: list[dict[str, Any]], baseline_cell: str | None) -> list[dict[str, Any]]:
    """Per cell: mean/std over seeds of every metric, CV of macro, and gaps to the baseline cell."""
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cell.setdefault(r["cell"], []).append(r)
    base_rows = by_cell.get(baseline_cell or "", [])
    metric_cols = sorted({k for r in rows for k in r if k.startswith(("cat_", "task_"))})
    summary = []
    for cell in cells:
        rs = by_cell.get(cell.name, [])
        s: dict[str, Any] = {**cell.describe(), "seeds": len(rs), "seeds_planned": len(cell.evaluate)}
        for m in (*SUMMARY_METRICS, *metric_cols):
            s[f"{m}_mean"], s[f"{m}_std"] = mean_std([r.get(m) for r in rs])
        s["macro_cv"] = coefficient_of_variation([r["macro"] for r in rs])
        for k in GENERATION_FIGURES:
            s[k] = rs[0].get(k) if rs else None
        s["is_baseline"] = cell.name == baseline_cell
        for m in ("macro", "heldout_bpb"):
            cmp = compare([r.get(m) for r in rs], [r.get(m) for r in base_rows]) if base_rows and rs else {}
            for k in ("gap", "pooled_std", "se", "gap_over_se", "cohens_d"):
                s[f"{m}_{k}"] = cmp.get(k)
        summary.append(s)
    return summary


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_results(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> dict[str, Any]:
    rows = collect(cells, out)
    baseline_cell = f"baseline-{cfg.baseline_name}" if cfg.baseline_name else None
    summary = summarize(cells, rows, baseline_cell)
    doc = {"experiment": cfg.name, "baseline": baseline_cell, "metric": primary_metric(cfg.eval.prob_variant),
           "definitions": cfg.eval.definitions,
           "significance": "gap = cell mean - baseline mean over seeds; SE from the pooled seed std; "
                           "cohens_d = gap / pooled std",
           "rows": [{k: _clean(v) for k, v in r.items()} for r in rows],
           "cells": [{k: _clean(v) for k, v in s.items()} for s in summary]}

    corr = classifier_correlation(cells, summary, out)
    if corr:
        doc["classifier_correlation"] = corr
    atomic_write_json(out / "results.json", doc, strict=True)
    _write_csv(out / "results.csv", doc["rows"])
    _write_csv(out / "results_summary.csv", doc["cells"])
    return doc


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    with atomic_open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})


def _fmt(v: Any, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _pm(mean: Any, std: Any, digits: int = 4) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def print_table(doc: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    base = doc.get("baseline")
    table = Table(title=f"{doc['experiment']}: macro {doc['metric']} (mean ± std over seeds), gaps vs {base or '-'}")
    for col in ("cell", "seeds", "macro", "gap", "gap/SE", "d", "heldout bpb", "bpb gap", "compliance",
                "opener", "distinct-2", "invented #", "recall", "gen tokens"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    for s in doc["cells"]:
        table.add_row(
            escape(s["cell"]) + (" (baseline)" if s["is_baseline"] else ""), f"{s['seeds']}/{s['seeds_planned']}",
            _pm(s["macro_mean"], s["macro_std"]), _fmt(s["macro_gap"]), _fmt(s["macro_gap_over_se"], 2),
            _fmt(s["macro_cohens_d"], 2), _pm(s["heldout_bpb_mean"], s["heldout_bpb_std"], 3),
            _fmt(s["heldout_bpb_gap"], 3), _fmt(s["compliance"], 2), _fmt(s["opening_collapse"], 2),
            _fmt(s.get("distinct_2"), 2), _fmt(s.get("invented_number_rate"), 2), _fmt(s.get("content_recall"), 2),
            "-" if s["gen_tokens"] is None else f"{s['gen_tokens']:,}",
        )
    console.print(table)

    print_correlation(doc, console)
