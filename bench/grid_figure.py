"""An experiment grid's per-cell results as a figure file for the docs (bench/results/<name>.json).

    .venv/bin/python bench/grid_figure.py out/mini_ablation --name mini_ablation_constrained \\
        --how "rephraser experiment run examples/mini_ablation.yaml --only '*constrained*' --only 'baseline*'" \\
        --where "2-core machine, one other test file running" [--cells '*constrained*' --cells 'baseline*']

Reads OUT/results_summary.csv (or a copy of it given as the path) as `rephraser experiment run/results`
wrote it: one row per cell with the mean ± std over seeds, the gap to the baseline with gap/SE and
Cohen's d, and the generation's compliance, diversity and faithfulness. Cells without a finished seed
are left out. The view `cells` is the table docs/results.md shows; render it with bench/render_docs.py.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import sys
from pathlib import Path

from figures import write_figure

KEEP = ("cell", "kind", "prompt", "generator", "seeds", "macro_mean", "macro_std", "macro_gap", "macro_gap_over_se",
        "macro_cohens_d", "heldout_bpb_mean", "heldout_bpb_std", "heldout_bpb_gap", "compliance", "opening_collapse",
        "distinct_2", "invented_number_rate", "content_recall", "gen_tokens")
GAPS = ("macro_gap", "macro_gap_over_se", "macro_cohens_d", "heldout_bpb_gap")
VIEWS = {"cells": {"rows": "cells", "columns": [
    ["cell", "{cell}"], ["macro (mean ± std over {seeds} seeds)", "{macro_mean:.4f} ± {macro_std:.4f}"],
    ["gap", "{macro_gap:+.4f}"], ["gap/SE", "{macro_gap_over_se:.1f}"], ["d", "{macro_cohens_d:.1f}"],
    ["held-out bpb (gap)", "{heldout_bpb_mean:.3f} ({heldout_bpb_gap:+.3f})"], ["compliance", "{compliance:.2f}"],
    ["opening collapse", "{opening_collapse:.0%}"], ["distinct-2", "{distinct_2:.2f}"],
    ["invented numbers", "{invented_number_rate:.0%}"], ["content recall", "{content_recall:.2f}"]]}}


def _value(key: str, text: str):  # noqa: ANN202
    if text == "":
        return None
    if key in ("cell", "kind", "prompt", "generator"):
        return text
    return int(text) if key in ("seeds", "gen_tokens") else float(text)


def read_cells(path: Path, globs: list[str]) -> list[dict]:
    csv_path = path / "results_summary.csv" if path.is_dir() else path
    if not csv_path.is_file():
        sys.exit(f"error: {csv_path} does not exist (run the grid first, or `rephraser experiment results`)")
    cells = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if not row.get("seeds") or int(row["seeds"]) == 0:
                continue  # no finished seed: nothing measured
            if globs and not any(fnmatch.fnmatch(row["cell"], g) for g in globs):
                continue
            cell = {k: _value(k, row.get(k, "")) for k in KEEP}
            if row.get("is_baseline") == "True":  # a baseline has no gap to itself
                cell.update({k: None for k in GAPS})
            cells.append(cell)
    if not cells:
        sys.exit(f"error: no finished cell in {csv_path}" + (f" matches {', '.join(globs)}" if globs else ""))
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="the grid's output folder or its results_summary.csv")
    ap.add_argument("--name", required=True, help="figure name: writes bench/results/<name>.json")
    ap.add_argument("--how", required=True, help="the command that ran the grid")
    ap.add_argument("--where", required=True, help="the machine and its load while the grid ran")
    ap.add_argument("--measured", default=None, help="date the grid ran (default: today)")
    ap.add_argument("--note", default=None)
    ap.add_argument("--cells", action="append", default=[], help="keep only cells matching this glob (repeatable)")
    args = ap.parse_args()
    cells = read_cells(args.results, args.cells)
    write_figure(args.name, {"cells": cells, "seeds": max(c["seeds"] for c in cells)}, VIEWS, how=args.how,
                 where=args.where, measured=args.measured, note=args.note)


if __name__ == "__main__":
    main()
