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
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, get_args

from pydantic import BaseModel, ConfigDict, JsonValue

from rephraser.atomic import atomic_open, atomic_write_json
from rephraser.evaluate.definitions import primary_metric
from rephraser.evaluate.score import PRIMARY_METRIC
from rephraser.evaluate.suite import details_path
from rephraser.evaluate.tasks import TASKS
from rephraser.experiments.cells import Cell, Run
from rephraser.experiments.classifier_correlation import (
    Correlation,
    classifier_correlation,
    print_correlation,
)
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.item_noise import BootstrapInfo, Scores, item_gap_variances, read_item_scores
from rephraser.experiments.rows import Row, Value, number
from rephraser.experiments.significance import (
    ALPHA,
    CORRECTION,
    Comparison,
    coefficient_of_variation,
    compare,
    holm,
    mean_std,
)
from rephraser.experiments.stages import read_marker
from rephraser.experiments.stages.generate_figures import GenerateOutputs, Number
from rephraser.experiments.stages.train import TrainOutputs
from rephraser.report.numbers import DASH, p_text, pm, sig, x100

if TYPE_CHECKING:
    from rich.console import Console

# Per-seed metrics aggregated per cell; for heldout_bpb lower is better.
SUMMARY_METRICS = ("macro", "micro", "heldout_bpb")
# What the cell's generate stages produced: the same for every seed of a cell.
GENERATION_FIGURES = ("gen_tokens", "compliance", "opening_collapse", "distinct_2", "invented_number_rate",
                      "content_recall")


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Suite(_Read):
    macro: Number | None = None
    micro: Number | None = None
    metric: str = PRIMARY_METRIC
    categories: dict[str, JsonValue] | None = None
    results: dict[str, dict[str, JsonValue]] | None = None


class _Bpb(_Read):
    bpb: Number


class Evaluation(_Read):
    """An evaluate stage's evaluation.json (the parts the results table reads)."""

    suite: _Suite
    heldout_bpb: dict[str, _Bpb | None]


def evaluation_of(cell: Cell, run: Run, out: Path) -> Evaluation | None:
    stage = cell.evaluate[run]
    if read_marker(stage, out) is None:
        return None
    return Evaluation.model_validate(json.loads((stage.dir(out) / "evaluation.json").read_text(encoding="utf-8")))


def seed_row(cell: Cell, run: Run, out: Path) -> Row | None:
    """The flat row of one trained+evaluated run of a cell, or None when it has not run yet."""
    ev = evaluation_of(cell, run, out)
    if ev is None:
        return None
    suite = ev.suite
    bpbs = [v.bpb for v in ev.heldout_bpb.values() if v]
    seed, data_seed = run
    row: Row = {**cell.describe(), "seed": seed, "data_seed": seed if data_seed is None else data_seed,
                "macro": suite.macro, "micro": suite.micro,
                "heldout_bpb": math.fsum(bpbs) / len(bpbs) if bpbs else None}
    for cat, v in (suite.categories or {}).items():
        row[f"cat_{cat}"] = _scalar(v)
    for task, res in (suite.results or {}).items():
        row[f"task_{task}"] = _scalar(res.get(suite.metric))
    gens = [g.outputs(out) or GenerateOutputs() for g in cell.generates]
    row.update(gen_tokens=_total([g.ok_completion_tokens for g in gens]),
               compliance=_mean([g.format_compliance for g in gens]),
               opening_collapse=_mean([g.opening_collapse for g in gens]),
               # diversity and faithfulness beside compliance (generate stages written before these were
               # recorded show "-"; `rephraser report` recomputes them from the rows)
               distinct_2=_mean([g.distinct_2 for g in gens]),
               invented_number_rate=_mean([g.invented_number_rate for g in gens]),
               content_recall=_mean([g.content_recall for g in gens]))
    tr = cell.train[run].outputs(out) or TrainOutputs()
    row.update(train_tokens=tr.tokens, parameters=tr.parameters, mix_heldout_bpb=tr.final_bpb)
    return row


def _scalar(v: JsonValue) -> Value:
    return None if isinstance(v, (list, dict)) else v


def _mean(values: list[Number | None]) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float))]
    return math.fsum(vals) / len(vals) if vals and len(vals) == len(values) else None


def _total(values: list[Number | None]) -> Number | None:
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


def collect(cells: list[Cell], out: Path) -> list[Row]:
    rows = []
    for cell in cells:
        for run in cell.evaluate:
            r = seed_row(cell, run, out)
            if r is not None:
                rows.append(r)
    return rows


# Per compared metric: what significance.compare returns, stored as <metric>_<key> in each cell's summary.
CompareKey = Literal["gap", "se", "se_seed", "se_items", "df", "gap_over_se", "p_value", "ci95_low", "ci95_high",
                     "pooled_std", "cohens_d"]
COMPARE_KEYS: tuple[CompareKey, ...] = get_args(CompareKey)


def summarize(cells: list[Cell], rows: list[Row], baseline_cell: str | None,
              item_var: dict[str, float | None] | None = None) -> list[Row]:
    """Per cell: mean/std over seeds of every metric, CV of macro, and the tested gaps to the baseline cell.

    `item_var` (cell -> bootstrap variance of its macro gap) adds the benchmark-item noise to macro's
    test; held-out bpb is tested on seed noise alone (its per-document values are not kept). Each
    metric's p-values are Holm-adjusted over the grid's cells, and `<metric>_beyond_noise` follows the
    adjusted p.
    """
    by_cell: dict[str, list[Row]] = {}
    for r in rows:
        by_cell.setdefault(str(r["cell"]), []).append(r)
    base_rows = by_cell.get(baseline_cell or "", [])
    metric_cols = sorted({k for r in rows for k in r if k.startswith(("cat_", "task_"))})
    summary = []
    for cell in cells:
        rs = by_cell.get(cell.name, [])
        s: Row = {**cell.describe(), "seeds": len(rs), "seeds_planned": len(cell.evaluate)}
        for m in (*SUMMARY_METRICS, *metric_cols):
            s[f"{m}_mean"], s[f"{m}_std"] = mean_std(_numbers(rs, m))
        s["macro_cv"] = coefficient_of_variation(_numbers(rs, "macro"))
        for k in GENERATION_FIGURES:
            s[k] = rs[0].get(k) if rs else None
        s["is_baseline"] = cell.name == baseline_cell
        for m in ("macro", "heldout_bpb"):
            compared = base_rows and rs and cell.name != baseline_cell
            iv = (item_var or {}).get(cell.name) if m == "macro" else None
            cmp: Comparison | None = compare(_numbers(rs, m), _numbers(base_rows, m), item_var=iv) if compared else None
            for k in COMPARE_KEYS:
                s[f"{m}_{k}"] = None if cmp is None else cmp[k]
        summary.append(s)
    for m in ("macro", "heldout_bpb"):  # one family per metric: every cell compared with the baseline
        adjusted = holm({str(s["cell"]): number(s, f"{m}_p_value") for s in summary})
        for s in summary:
            p = adjusted[str(s["cell"])]
            s[f"{m}_p_holm"] = p
            s[f"{m}_beyond_noise"] = None if p is None else p < ALPHA
    return summary


def _numbers(rows: list[Row], column: str) -> list[float | None]:
    return [number(r, column) for r in rows]


def _clean(v: Value) -> Value:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class Significance(TypedDict):
    test: str
    alpha: float
    correction: str
    beyond_noise: str
    cohens_d: str
    item_bootstrap: BootstrapInfo


class ResultsDoc(TypedDict):
    """OUT/results.json (key order = the file's)."""

    experiment: str
    baseline: str | None
    metric: str
    definitions: str
    significance: Significance
    rows: list[Row]
    cells: list[Row]
    classifier_correlation: NotRequired[Correlation]


def write_results(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> ResultsDoc:
    rows = collect(cells, out)
    baseline_cell = f"baseline-{cfg.baseline_name}" if cfg.baseline_name else None
    metric = primary_metric(cfg.eval.prob_variant)
    item_var: dict[str, float | None] = {}
    item_info: BootstrapInfo = {"resamples": 0, "tasks": 0, "items": 0}
    if baseline_cell:
        item_var, item_info = item_gap_variances(item_scores(cells, out, metric), baseline_cell,
                                                 {n: t.category for n, t in TASKS.items()})
    summary = summarize(cells, rows, baseline_cell, item_var)
    doc: ResultsDoc = {"experiment": cfg.name, "baseline": baseline_cell, "metric": metric,
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


def _write_csv(path: Path, rows: list[Row]) -> None:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    with atomic_open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})


def marker(summary: Row, metric: str = "macro") -> str:
    """▲/▼ when the Holm-adjusted test says beyond noise (▲ = better: higher macro, lower bpb)."""
    beyond, gap = summary.get(f"{metric}_beyond_noise"), number(summary, f"{metric}_gap")
    if beyond is None or gap is None:
        return "-"
    if not beyond:
        return "within noise"
    better = gap < 0 if metric == "heldout_bpb" else gap > 0
    return "▲" if better else "▼"


def _tdf(s: Row) -> str:
    t, df = s.get("macro_gap_over_se"), s.get("macro_df")
    return "-" if t is None else f"{sig(t, 2, signed=True)} ({sig(df, 2)})"


def _ci100(s: Row) -> str:
    lo, hi = x100(s.get("macro_ci95_low")), x100(s.get("macro_ci95_high"))
    return "-" if lo is None or hi is None else f"[{sig(lo, 2)}, {sig(hi, 2)}]"


def _bpb_gap(s: Row, ref: bool) -> str:
    gap, mark = sig(s["heldout_bpb_gap"], 2, signed=True, dash="-"), marker(s, "heldout_bpb")
    return gap if ref or mark == "-" else f"{gap} {mark}"


def print_table(doc: ResultsDoc, console: Console | None = None) -> None:
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
        ref = bool(s["is_baseline"]) and s["cell"] == base
        table.add_row(
            escape(str(s["cell"])) + (" (baseline)" if s["is_baseline"] else ""), f"{s['seeds']}/{s['seeds_planned']}",
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

    print_correlation(doc.get("classifier_correlation"), console)
