"""Which cells of a grid are beyond noise, as a figure file for the docs (bench/results/<name>.json).

    PYTHONPATH=src .venv/bin/python bench/grid_significance.py out/mini_ablation --name mini_ablation_significance \\
        --how "rephraser experiment run examples/mini_ablation.yaml" --where "2-core machine, load 10"
    PYTHONPATH=src .venv/bin/python bench/grid_significance.py --retest     # the earlier hand-recorded tables

A grid folder: its results.json as `rephraser experiment run/results` writes it (Welch's t, item noise
from the paired bootstrap, Holm over the cells: experiments/significance.py). `--retest`: the cells of the
earlier mini-ablation figures (mini_ablation_free, recorded by hand at 4 decimals; mini_ablation_constrained,
from the grid's CSV) tested again from their means, stds and seed counts — seed noise only, since their
per-item scores were not kept — with Holm over the 7 cells together. The view `cells` is the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from figures import RESULTS, load_figure, write_figure

from rephraser.experiments.significance import ALPHA, compare_stats, holm
from rephraser.report.numbers import p_text, pm, sig, x100

COLUMNS = [["cell", "{cell}"], ["seeds", "{seeds}"], ["macro ×100 (mean ± std)", "{macro_x100}"],
           ["gap ×100 [95% CI]", "{gap_x100}"], ["SE ×100: seeds / items", "{se_text}"], ["t (df)", "{t_df}"], ["p", "{p}"], ["Holm p", "{p_holm}"],
           ["{noise_header}", "{verdict}"]]
VIEWS = {"cells": {"rows": "cells", "columns": COLUMNS}}


def _row(cell: str, seeds: Any, mean: Any, std: Any, cmp: dict[str, Any], p_holm: float | None,
         baseline: bool) -> dict[str, Any]:
    lo, hi = x100(cmp.get("ci95_low")), x100(cmp.get("ci95_high"))
    t, df = cmp.get("gap_over_se"), cmp.get("df")
    if baseline:
        verdict = "reference"
    elif p_holm is None:
        verdict = "noise unknown"
    elif p_holm < ALPHA:
        verdict = "▲ beyond noise" if cmp["gap"] > 0 else "▼ beyond noise"
    else:
        verdict = "within noise"
    gap = ("≈" if cmp.get("typed") else "") + sig(x100(cmp.get("gap")), 3, signed=True)  # typed: from 4 decimals
    return {"cell": cell, "seeds": seeds, "macro_x100": pm(x100(mean), x100(std)),
            "gap_x100": "–" if baseline else gap + (f" [{sig(lo, 2)}, {sig(hi, 2)}]" if lo is not None else ""),
            "t_df": "–" if t is None or baseline else f"{sig(t, 2, signed=True)} ({sig(df, 2)})",
            "p": "–" if baseline else p_text(cmp.get("p_value")), "p_holm": "–" if baseline else p_text(p_holm),
            "se_text": "–" if baseline or cmp.get("typed") or cmp.get("se_seed") is None else
                       f"{sig(x100(cmp['se_seed']), 2)} / {sig(x100(cmp.get('se_items')), 2)}",
            "verdict": verdict, "macro_mean": mean, "macro_std": std, "gap": cmp.get("gap"), "t": t, "df": df,
            "p_value": cmp.get("p_value"), "p_holm_value": p_holm, "se_seed": cmp.get("se_seed"),
            "se_items": cmp.get("se_items")}


def from_grid(folder: Path) -> dict[str, Any]:
    path = folder / "results.json" if folder.is_dir() else folder
    if not path.is_file():
        sys.exit(f"error: {path} does not exist (run the grid first, or `rephraser experiment results`)")
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for c in doc["cells"]:
        if not c.get("seeds"):
            continue  # nothing measured yet
        cmp = {k: c.get(f"macro_{k}") for k in ("gap", "gap_over_se", "df", "p_value", "ci95_low", "ci95_high",
                                               "se_seed", "se_items")}
        rows.append(_row(c["cell"], c["seeds"], c["macro_mean"], c["macro_std"], cmp, c.get("macro_p_holm"),
                         c["cell"] == doc["baseline"]))
    boot = (doc.get("significance") or {}).get("item_bootstrap") or {}
    tested = sum(r["p_value"] is not None for r in rows)
    header = (f"Holm over {tested} cell{'s' * (tested != 1)}, seed + item noise "
              f"({boot.get('resamples', 0)} resamples of {boot.get('items', 0)} items)")
    return {"cells": rows, "noise_header": header, "experiment": doc["experiment"]}


def retest(results: Path = RESULTS) -> dict[str, Any]:
    """The earlier figures' cells, each against its own run's baseline, Holm over all of them."""
    tested: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = []
    for name in ("mini_ablation_free", "mini_ablation_constrained"):
        cells = load_figure(name, results)["data"]["cells"]
        base = next(c for c in cells if "baseline" in c["cell"])
        for c in cells:
            n = c.get("seeds", 3)  # the free table was 3 seeds per cell
            cmp = compare_stats(c["macro_mean"], c["macro_std"], n, base["macro_mean"], base["macro_std"],
                                base.get("seeds", 3))
            typed = name == "mini_ablation_free" and c is not base
            if typed:
                # typed at 4 decimals: the printed gap/SE (t, from full precision at equal seed counts) is
                # more exact than one recomputed from 1-digit stds; the df still comes from those stds
                cmp = {**cmp, "gap_over_se": c["macro_gap_over_se"]}
                cmp.update(_p_from_t(cmp))
            label = f"{c['cell']} ({'free run' if name == 'mini_ablation_free' else 'constrained run'})"
            tested.append((label, c, {**cmp, "typed": typed}, c is base))
    adjusted = holm({label: None if is_base else cmp.get("p_value") for label, _, cmp, is_base in tested})
    rows = [_row(label, c.get("seeds", 3), c["macro_mean"], c["macro_std"], cmp, adjusted[label], is_base)
            for label, c, cmp, is_base in tested]
    return {"cells": rows, "noise_header": f"Holm over {sum(v is not None for v in adjusted.values())} cells, "
                                           "seed noise only"}


def _p_from_t(cmp: dict[str, Any]) -> dict[str, Any]:
    from rephraser.experiments.significance import t_two_sided_p

    t, df = cmp["gap_over_se"], cmp["df"]
    # no CI: the gap itself was typed at 4 decimals (a gap of "0.0000" would give a CI of [0, 0])
    return {"p_value": t_two_sided_p(t, df), "ci95_low": None, "ci95_high": None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="?", help="the grid's output folder or its results.json")
    ap.add_argument("--retest", action="store_true", help="test the earlier mini-ablation figures again")
    ap.add_argument("--name", help="figure name: writes bench/results/<name>.json")
    ap.add_argument("--how", help="the command that ran the grid")
    ap.add_argument("--where", help="the machine and its load while the grid ran")
    ap.add_argument("--measured", default=None, help="date the grid ran (default: today)")
    ap.add_argument("--note", default=None)
    args = ap.parse_args()
    if args.retest:
        data = retest()
        write_figure(args.name or "mini_ablation_retest", data, VIEWS, recorded="script",
                     how="bench/grid_significance.py --retest",
                     where="computed from bench/results/mini_ablation_free.json and mini_ablation_constrained.json",
                     note=args.note or "Welch's t from each cell's mean, std and seed count against its own run's "
                                       "baseline; the free run's t is its printed gap/SE and its df comes from stds "
                                       "printed to 1 significant digit, so its p-values are approximate")
        return
    if args.results is None or not (args.name and args.how and args.where):
        sys.exit("error: give a grid folder with --name, --how and --where (or --retest)")
    write_figure(args.name, from_grid(args.results), VIEWS, how=args.how, where=args.where, measured=args.measured,
                 note=args.note)


if __name__ == "__main__":
    main()
