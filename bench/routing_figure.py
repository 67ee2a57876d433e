"""Routed vs uniform generations as a figure file for the docs (bench/results/<name>.json).

    .venv/bin/python bench/routing_figure.py --stage "source filter=OUT/stages/generate/<key>" \\
        --stage "uniform draw=OUT/stages/generate/<key2>" --name routing_no_digit --how "..." --where "..."

For each generate stage (a routed run folder) and each prompt: how many outputs, how many of their source
documents had no digit, and the share of outputs without any digit (`rephraser stats`' no_digit_share over
every model output, ok or rejected by its contract, since the grid keeps both). The view `prompts` is the
table docs/results.md shows; render it with bench/render_docs.py.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from figures import write_figure

from rephraser.postprocess.stats import compute_stats
from rephraser.run_folder import iter_rows

VIEWS = {"prompts": {"rows": "rows", "columns": [
    ["cell", "{cell}"], ["prompt", "{prompt}"], ["outputs", "{outputs}"],
    ["sources without a digit", "{sources_no_digit}"], ["outputs without a digit", "{no_digit} ({no_digit_share:.0%})"],
    ["invented numbers", "{invented_number_rate:.0%}"], ["compliance", "{compliance:.0%}"]]},
    "math": {"text": "math outputs without a digit: {math[0][cell]} {math[0][no_digit]}/{math[0][outputs]} "
                     "vs {math[1][cell]} {math[1][no_digit]}/{math[1][outputs]} (Fisher exact p = {math_fisher_p:.2f})"}}
_DIGIT = re.compile(r"\d")


def stage_rows(label: str, folder: Path) -> list[dict]:
    stats = compute_stats(folder, quality=False, outputs="all")["prompts"]
    sources: dict[str, int] = {}
    for _part, row in iter_rows(folder, ("prompt", "source_text")):
        if row.get("prompt") and row["prompt"] != "_input":
            sources[row["prompt"]] = sources.get(row["prompt"], 0) + (not _DIGIT.search(row.get("source_text") or ""))
    rows = []
    for prompt, s in stats.items():
        if prompt == "_input":
            continue
        outputs = s["ok"] + s["contract_rejected"]
        share = s.get("no_digit_share")
        rows.append({"cell": label, "prompt": prompt, "outputs": outputs, "sources_no_digit": sources.get(prompt, 0),
                     "no_digit": round((share or 0) * outputs), "no_digit_share": share,
                     "compliance": s["format_compliance"],
                     "invented_number_rate": (s.get("faithfulness") or {}).get("invented_number_rate")})
    return rows


def direct_comparison(grid: Path, cell: str, control: str) -> dict:
    """The routed cell against its control (not against the baseline): Welch's t over training seeds."""
    import csv

    from rephraser.experiments.significance import compare, mean_std

    macro: dict[str, list[float]] = {cell: [], control: []}
    bpb: dict[str, list[float]] = {cell: [], control: []}
    with (grid / "results.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["cell"] in macro and row.get("macro"):
                macro[row["cell"]].append(float(row["macro"]))
                bpb[row["cell"]].append(float(row["heldout_bpb"]))
    c = compare(macro[cell], macro[control])
    return {"cell": cell, "control": control, "n": min(len(v) for v in macro.values()), "gap": c["gap"],
            "gap_e4": None if c["gap"] is None else c["gap"] * 1e4,
            "gap_over_se": c["gap_over_se"], "p_value": c["p_value"],
            "bpb_gap": (mean_std(bpb[cell])[0] or 0) - (mean_std(bpb[control])[0] or 0)}


def grid_cells(grid: Path, names: list[str]) -> list[dict]:
    """The named cells of the grid's results_summary.csv, macro scaled by 10⁴ (the tiny proxy's scores
    differ in the fifth decimal)."""
    import csv

    def num(row: dict, key: str, scale: float = 1.0) -> float | None:
        return float(row[key]) * scale if row.get(key) not in (None, "") else None

    out = []
    with (grid / "results_summary.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["cell"] in names:
                base = row.get("is_baseline") == "True"
                out.append({"cell": row["cell"], "seeds": int(row["seeds"]), "macro_e4": num(row, "macro_mean", 1e4),
                            "macro_std_e4": num(row, "macro_std", 1e4),
                            "gap_e4": None if base else num(row, "macro_gap", 1e4),
                            "gap_over_se": None if base else num(row, "macro_gap_over_se"),
                            "bpb": num(row, "heldout_bpb_mean"), "bpb_gap": None if base else num(row, "heldout_bpb_gap"),
                            **{k: num(row, k) for k in ("invented_number_rate", "distinct_2", "content_recall")},
                            "gen_tokens": row.get("gen_tokens") or None})
    return sorted(out, key=lambda c: names.index(c["cell"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", action="append", required=True, help="LABEL=PATH of a generate stage folder")
    ap.add_argument("--name", required=True)
    ap.add_argument("--how", required=True)
    ap.add_argument("--where", required=True)
    ap.add_argument("--measured", default=None)
    ap.add_argument("--note", default=None)
    ap.add_argument("--grid", type=Path, default=None, help="the grid's output folder (its results.csv): also "
                    "compare the proxies trained on the first two --cells directly (Welch's t over seeds)")
    ap.add_argument("--cells", action="append", default=[], help="with --grid: the routed cell, then its control")
    ap.add_argument("--baseline", action="append", default=[], help="with --grid: baseline cells to list too")
    args = ap.parse_args()
    rows = []
    for spec in args.stage:
        label, _, path = spec.partition("=")
        rows += stage_rows(label, Path(path))
    math = [r for r in rows if r["prompt"] == "math"]
    data = {"rows": rows, "math": math, "math_fisher_p": None}
    if len(math) >= 2:  # is the difference in no-digit math outputs beyond chance? (two-sided)
        from scipy.stats import fisher_exact

        a, b = math[0], math[1]
        data["math_fisher_p"] = float(fisher_exact([[a["no_digit"], a["outputs"] - a["no_digit"]],
                                                    [b["no_digit"], b["outputs"] - b["no_digit"]]])[1])
    views = dict(VIEWS) if len(math) >= 2 else {"prompts": VIEWS["prompts"]}
    if args.grid is not None and len(args.cells) == 2:
        data["direct"] = direct_comparison(args.grid, *args.cells)
        data["cells"] = grid_cells(args.grid, [*args.cells, *args.baseline])
        views["cells"] = {"rows": "cells", "columns": [
            ["cell", "{cell}"], ["seeds", "{seeds}"], ["macro ×10⁴ (mean ± std)", "{macro_e4:.2f} ± {macro_std_e4:.2f}"],
            ["gap to baseline ×10⁴", "{gap_e4:+.2f}"], ["gap/SE", "{gap_over_se:.1f}"],
            ["held-out bpb (gap)", "{bpb:.3f} ({bpb_gap:+.3f})"], ["invented numbers", "{invented_number_rate:.0%}"],
            ["distinct-2", "{distinct_2:.2f}"], ["content recall", "{content_recall:.2f}"],
            ["output tokens", "{gen_tokens}"]]}
        views["direct"] = {"text": "{direct[cell]} vs {direct[control]}, macro prob_norm_token over {direct[n]} seeds "
                                   "each: gap {direct[gap_e4]:+.2f}×10⁻⁴, gap/SE {direct[gap_over_se]:.1f}, p = "
                                   "{direct[p_value]:.2f}; held-out bpb gap {direct[bpb_gap]:+.3f}"}
    write_figure(args.name, data, views, how=args.how, where=args.where, measured=args.measured,
                 note=args.note)


if __name__ == "__main__":
    main()
