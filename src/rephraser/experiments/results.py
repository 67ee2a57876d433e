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
from rephraser.evaluate.suite import details_path
from rephraser.evaluate.tasks import TASKS
from rephraser.experiments.cells import Cell, Run
from rephraser.experiments.classifier_correlation import classifier_correlation, print_correlation
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.item_noise import Scores, item_gap_variances, read_item_scores
from rephraser.experiments.significance import (
    ALPHA,
    CORRECTION,
    coefficient_of_variation,
    compare,
    holm,
    mean_std,
)
from rephraser.experiments.stages import read_marker
from rephraser.report.numbers import DASH, p_text, pm, sig, x100

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


def item_scores(cells: list[Cell], out: Path, metric: str) -> dict[str, list[Scores | None]]:
    """cell -> the per-item scores of each evaluated run (None for a run whose details are unreadable)."""
    found: dict[str, list[Scores | None]] = {}
    for cell in cells:
        for run in cell.evaluate:
            if read_marker(cell.evaluate[run], out) is not None:
                details = details_path(cell.evaluate[run].dir(out) / "evaluation.json")
                found.setdefault(cell.name, []).append(read_item_scores(details, metric))
    return found


def collect(cells: list[Cell], out: Path) -> list[dict[str, Any]]:
    rows = []
    for cell in cells:
        for run in cell.evaluate:
            r = seed_row(cell, run, out)
            if r is not None:
                rows.append(r)
    return rows


# Per compared metric: what significance.compare returns, stored as <metric>_<key> in each cell's summary.
COMPARE_KEYS = ("gap", "se", "se_seed", "se_items", "df", "gap_over_se", "p_value", "ci95_low", "ci95_high",
                "pooled_std", "cohens_d")


def summarize(cells: list[Cell], rows: list[dict[str, Any]], baseline_cell: str | None,
              item_var: dict[str, float | None] | None = None) -> list[dict[str, Any]]:
    """Per cell: mean/std over seeds of every metric, CV of macro, and the tested gaps to the baseline cell.

    `item_var` (cell -> bootstrap variance of its macro gap) adds the benchmark-item noise to macro's
    test; held-out bpb is tested on seed noise alone (its per-document values are not kept). Each
    metric's p-values are Holm-adjusted over the grid's cells, and `<metric>_beyond_noise` follows the
    adjusted p.
    """
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
            compared = base_rows and rs and cell.name != baseline_cell
            iv = (item_var or {}).get(cell.name) if m == "macro" else None
            cmp = compare([r.get(m) for r in rs], [r.get(m) for r in base_rows], item_var=iv) if compared else {}
            for k in COMPARE_KEYS:
                s[f"{m}_{k}"] = cmp.get(k)
        summary.append(s)
    for m in ("macro", "heldout_bpb"):  # one family per metric: every cell compared with the baseline
        adjusted = holm({s["cell"]: s[f"{m}_p_value"] for s in summary})
        for s in summary:
            p = adjusted[s["cell"]]
            s[f"{m}_p_holm"] = p
            s[f"{m}_beyond_noise"] = None if p is None else p < ALPHA
    return summary


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_results(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> dict[str, Any]:
    rows = collect(cells, out)
    baseline_cell = f"baseline-{cfg.baseline_name}" if cfg.baseline_name else None
    metric = primary_metric(cfg.eval.prob_variant)
    item_var, item_info = ({}, {"resamples": 0, "tasks": 0, "items": 0})
    if baseline_cell:
        item_var, item_info = item_gap_variances(item_scores(cells, out, metric), baseline_cell,
                                                 {n: t.category for n, t in TASKS.items()})
    summary = summarize(cells, rows, baseline_cell, item_var)
    doc = {"experiment": cfg.name, "baseline": baseline_cell, "metric": metric,
           "definitions": cfg.eval.definitions,
           "significance": {
               "test": "Welch's t on the seed means; gap = cell mean - baseline mean; macro's SE adds the "
                       "benchmark-item noise of a paired bootstrap over items (the same items for every cell)",
               "alpha": ALPHA, "correction": CORRECTION,
               "beyond_noise": f"{CORRECTION}-adjusted p < {ALPHA} over the grid's cells, per metric",
               "cohens_d": "gap / pooled seed std (an effect size, not the test)",
               "item_bootstrap": item_info},
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


def marker(summary: dict[str, Any], metric: str = "macro") -> str:
    """▲/▼ when the Holm-adjusted test says beyond noise (▲ = better: higher macro, lower bpb)."""
    beyond, gap = summary.get(f"{metric}_beyond_noise"), summary.get(f"{metric}_gap")
    if beyond is None or gap is None:
        return "-"
    if not beyond:
        return "within noise"
    better = gap < 0 if metric == "heldout_bpb" else gap > 0
    return "▲" if better else "▼"


def _tdf(s: dict[str, Any]) -> str:
    t, df = s.get("macro_gap_over_se"), s.get("macro_df")
    return "-" if t is None else f"{sig(t, 2, signed=True)} ({sig(df, 2)})"


def _ci100(s: dict[str, Any]) -> str:
    lo, hi = x100(s.get("macro_ci95_low")), x100(s.get("macro_ci95_high"))
    return "-" if lo is None or hi is None else f"[{sig(lo, 2)}, {sig(hi, 2)}]"


def _bpb_gap(s: dict[str, Any], ref: bool) -> str:
    gap, mark = sig(s["heldout_bpb_gap"], 2, signed=True, dash="-"), marker(s, "heldout_bpb")
    return gap if ref or mark == "-" else f"{gap} {mark}"


def print_table(doc: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    base = doc.get("baseline")
    table = Table(title=f"{doc['experiment']}: macro {doc['metric']} (mean ± std over seeds; ×100 as the study "
                        f"prints it), gaps vs {base or '-'}: Welch t, item noise included, Holm-adjusted p")
    for col in ("cell", "seeds", "macro", "macro×100", "gap×100", "95% CI×100", "t (df)", "p Holm", "noise", "d",
                "heldout bpb", "bpb gap", "compliance", "opener", "distinct-2", "invented #", "recall", "gen tokens"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    for s in doc["cells"]:
        ref = s["is_baseline"] and s["cell"] == base
        table.add_row(
            escape(s["cell"]) + (" (baseline)" if s["is_baseline"] else ""), f"{s['seeds']}/{s['seeds_planned']}",
            pm(s["macro_mean"], s["macro_std"], dash="-"), pm(x100(s["macro_mean"]), x100(s["macro_std"]), dash="-"),
            sig(x100(s["macro_gap"]), 3, signed=True, dash="-"), _ci100(s), _tdf(s),
            p_text(s.get("macro_p_holm")).replace(DASH, "-"), "reference" if ref else marker(s),
            sig(s["macro_cohens_d"], 2, signed=True, dash="-"), pm(s["heldout_bpb_mean"], s["heldout_bpb_std"], dash="-"),
            _bpb_gap(s, ref),
            sig(s["compliance"], 2, dash="-"), sig(s["opening_collapse"], 2, dash="-"),
            sig(s.get("distinct_2"), 2, dash="-"), sig(s.get("invented_number_rate"), 2, dash="-"),
            sig(s.get("content_recall"), 2, dash="-"), "-" if s["gen_tokens"] is None else f"{s['gen_tokens']:,}",
        )
    console.print(table)

    print_correlation(doc, console)
