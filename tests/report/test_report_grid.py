"""The experiment report on grid folders built here in the grid's own format: the gaps, SE and d come from
the grid's significance code, so the table, the marker and the readings are checked against real numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from rephraser.experiments.results import COMPARE_KEYS
from rephraser.experiments.significance import coefficient_of_variation, compare, holm, mean_std
from rephraser.report.grid import load_grid_report, model_size
from rephraser.report.grid_plots import grid_figures, human_axis
from rephraser.report.grid_reading import reading
from rephraser.report.html import build_report, write_report

BASE = "baseline-src"


def write_grid(root: Path, cells: dict[str, dict], *, generators: dict | None = None, make_run=None,
               extra: dict | None = None) -> Path:
    """cells: name -> {"macro": [...], "bpb": [...], "ratio", "generator", "parameters", "rows": plan}.
    Writes results.json, experiment.yaml and the cells/ view as `rephraser experiment run` does."""
    rows, summary = [], []
    base = cells.get(BASE)
    for name, c in cells.items():
        kind = "baseline" if name.startswith("baseline") else "synthetic"
        describe = {"cell": name, "kind": kind, "prompt": None if kind == "baseline" else name.split("/")[0],
                    "generator": c.get("generator"), "source": "docs", "ratio": c.get("ratio"), "baseline": None}
        seed_rows = []
        for seed, (m, b) in enumerate(zip(c["macro"], c["bpb"], strict=True)):
            r = {**describe, "seed": seed, "macro": m, "micro": m, "heldout_bpb": b, "cat_GK": m, "cat_RC": m / 2,
                 "parameters": c.get("parameters"), "gen_tokens": None if kind == "baseline" else 1000,
                 "compliance": None if kind == "baseline" else 0.5, "opening_collapse": None}
            seed_rows.append(r)
            d = root / "cells" / name / f"seed{seed}"
            d.mkdir(parents=True, exist_ok=True)
            stages = {"mix": f"mix-{name.replace('/', '-')}"}
            (d / "results.json").write_text(json.dumps({"macro": m, "config_general": {"seed": seed}, "stages": stages}))
            (d / "curve.jsonl").write_text("\n".join(json.dumps(
                {"step": s, "tokens": 100_000 * s, "loss": 5 - s / 10 - seed / 100,
                 "heldout_loss": 5.1 - s / 10 if s % 2 == 0 else None, "bpb": 2.5 - s / 20}) for s in range(1, 6)))
            if c.get("rows") and make_run is not None:
                gen = root / "stages" / "generate" / f"gen-{name.split('/')[0]}"
                if not gen.exists():
                    make_run(gen, c["rows"])
                mix = root / "stages" / "mix" / stages["mix"]
                mix.mkdir(parents=True, exist_ok=True)
                (mix / "stage.json").write_text(json.dumps({"deps": [["source", "x"], ["generate", gen.name]]}))
        rows += seed_rows
        s = {**describe, "seeds": len(seed_rows), "seeds_planned": len(seed_rows), "is_baseline": name == BASE,
             "gen_tokens": seed_rows[0]["gen_tokens"], "compliance": seed_rows[0]["compliance"],
             "opening_collapse": None, "macro_cv": coefficient_of_variation(c["macro"])}
        for m, key in (("macro", "macro"), ("heldout_bpb", "bpb")):
            s[f"{m}_mean"], s[f"{m}_std"] = mean_std(c[key])
            cmp = compare(c[key], base[key]) if base else {}
            for k in COMPARE_KEYS:
                s[f"{m}_{k}"] = cmp.get(k)
        summary.append(s)
    for m in ("macro", "heldout_bpb"):  # as the grid does: Holm over the cells, the marker follows it
        adjusted = holm({s["cell"]: s[f"{m}_p_value"] if s["cell"] != BASE else None for s in summary})
        for s in summary:
            s[f"{m}_p_holm"] = adjusted[s["cell"]]
            s[f"{m}_beyond_noise"] = None if adjusted[s["cell"]] is None else adjusted[s["cell"]] < 0.05
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps({"experiment": "t", "baseline": BASE if base else None,
                                                   "metric": "prob_norm_token", "rows": rows, "cells": summary,
                                                   **(extra or {})}))
    (root / "experiment.yaml").write_text(yaml.safe_dump({
        "name": "t", "sources": {"docs": {}}, "eval": {"heldout_fraction": 0.05, "heldout_docs": 100},
        "generators": generators or {"g": {"engine": {"model": "smollm2-135m"}}}}))
    return root


CELLS = {
    BASE: {"macro": [0.100, 0.101, 0.102], "bpb": [2.50, 2.51, 2.52]},
    "up/mix50": {"macro": [0.110, 0.111, 0.112], "bpb": [2.40, 2.41, 2.42], "ratio": 0.5, "generator": "g"},
    "flat/mix50": {"macro": [0.1005, 0.1015, 0.1005], "bpb": [2.50, 2.53, 2.49], "ratio": 0.5, "generator": "g"},
    "down/mix50": {"macro": [0.090, 0.091, 0.092], "bpb": [2.60, 2.61, 2.62], "ratio": 0.5, "generator": "g"},
}


def test_table_marker_and_readings_follow_the_numbers(tmp_path: Path) -> None:
    root = write_grid(tmp_path / "g", CELLS)
    grid = load_grid_report(root)
    assert grid.from_grid and grid.baseline == BASE and [c.name for c in grid.cells] == list(CELLS)
    # gap 0.01 over SE sqrt(2/3) * 0.001: t = 12.2 at df 4, p = 2.6e-4, x3 cells (Holm) < 0.001
    assert reading(grid.cell("up/mix50"), grid) == (
        f"Macro 0.01 above {BASE} (t +12, df 4, Holm p <0.001: beyond noise); held-out bpb "
        "0.1 below the baseline's (t -12, df 4, Holm p <0.001: beyond noise).")
    flat = compare(CELLS["flat/mix50"]["macro"], CELLS[BASE]["macro"])
    assert flat["p_value"] > 0.05 and "within noise" in reading(grid.cell("flat/mix50"), grid)
    assert reading(grid.cell("down/mix50"), grid).startswith(f"Macro 0.01 below {BASE} (t -12, df 4, Holm p")
    assert reading(grid.cell(BASE), grid) == "The reference: macro 0.1010 ± 0.0010 over 3 seeds; seed noise (CV) 1.0%."

    page = build_report(root)
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    for col in ("macro", "macro ×100", "gap", "95% CI ×100", "t (df)", "p (Holm)", "noise", "d", "held-out bpb",
                "bpb gap", "bpb t (df)", "compliance",
                "opening collapse", "distinct-2", "invented numbers", "content recall", "generated tokens"):
        assert f">{col}</th>" in head, col
    rows = dict(re.findall(r'<tr class="cell-row" data-cell="([^"]+)">(.*?)</tr>', page, re.S))
    assert "beyond-noise above" in rows["up/mix50"] and "▲ beyond noise" in rows["up/mix50"]
    assert "beyond-noise below" in rows["down/mix50"] and "within-noise" in rows["flat/mix50"]
    assert "+12 (4)" in rows["up/mix50"] and "<td class=\"num\">+10</td>" in rows["up/mix50"]  # d = 0.01 / 0.001
    assert "11.10 ± 0.10" in rows["up/mix50"]  # macro x100, as the study prints it
    assert "original documents only" in rows[BASE] and '"reference">reference<' in rows[BASE]
    assert "the first 100 documents of the held-out split of docs" in page  # the common split, said in words


def test_plots_are_chosen_by_the_grid_shape(tmp_path: Path) -> None:
    one = write_grid(tmp_path / "one", CELLS)
    names = [f.name for f in grid_figures(load_grid_report(one))]
    assert names == ["seed-noise", "training-curves", "categories"]  # one ratio, one generator size, one student

    two = dict(CELLS)
    two["up/mix100"] = {"macro": [0.12, 0.121], "bpb": [2.3, 2.31], "ratio": 1.0, "generator": "h", "parameters": 2_000_000}
    gens = {"g": {"engine": {"model": "smollm2-135m"}}, "h": {"engine": {"model": "HuggingFaceTB/SmolLM2-1.7B-Instruct"}}}
    for c in (BASE, "up/mix50", "flat/mix50", "down/mix50"):
        two[c] = {**two[c], "parameters": 1_000_000}
    grid = load_grid_report(write_grid(tmp_path / "two", two, generators=gens))
    assert grid.ratios == [0.5, 1.0] and grid.generator_sizes == [1.35e8, 1.7e9] and grid.student_sizes == [1_000_000, 2_000_000]
    figures = {f.name: f for f in grid_figures(grid)}
    assert set(figures) == {"seed-noise", "score-vs-share", "score-vs-generator-size", "score-vs-student-size",
                            "training-curves", "categories"}
    # one colour per cell: the same hex in the table and in every plot it appears in
    colour = grid.cell("up/mix100").colour
    assert len({c.colour for c in grid.cells}) == len(grid.cells)
    for name in ("seed-noise", "score-vs-share", "score-vs-generator-size", "training-curves", "categories"):
        assert colour in figures[name].svg, name
    # legends everywhere; bpb axes say which split; token axes read k/M; sizes read M/B
    for f in figures.values():
        assert 'id="legend_1"' in f.svg, f.name
    assert "on the common split" in figures["seed-noise"].svg
    assert "own mixture split" in figures["training-curves"].svg and ">500k<" in figures["training-curves"].svg
    assert ">135M<" in figures["score-vs-generator-size"].svg and ">1.7B<" in figures["score-vs-generator-size"].svg


def test_exports_rows_pages_and_links(tmp_path: Path, make_run) -> None:
    cells = {BASE: CELLS[BASE], "up/mix50": {**CELLS["up/mix50"], "rows": {"up": {"ok": 5, "rejected": 2}}}}
    root = write_grid(tmp_path / "g", cells, make_run=make_run)
    (root / "report_files").mkdir()
    (root / "report_files" / "score-vs-share.svg").write_text("<svg/>")  # from an earlier report of another shape
    page_file = write_report(root)
    files = root / "report_files"
    assert not (files / "score-vs-share.svg").exists()
    for name in ("seed-noise", "training-curves", "categories"):
        assert (files / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        svg = (files / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and "<text" in svg  # text stays text: editable, searchable
    page = page_file.read_text()
    link = re.search(r'<a class="rows-link" href="([^"]+)">rows it trained on</a>', page).group(1)
    assert link == "report_files/rows-gen-up.html?status=ok#viewer"  # lands on the rows, filtered to what it took
    rows_page = (files / "rows-gen-up.html").read_text()
    assert '<section id="viewer">' in rows_page and "location.search" in rows_page and "scrollIntoView" in rows_page
    payload = json.loads(re.search(r'id="viewer-data">(.*?)</script>', rows_page, re.S).group(1))
    assert sum(r["status"] == "ok" for r in payload["rows"]) == 5
    assert f'href="report_files/{name}.png" download' in page


def test_model_size_and_axis_units() -> None:
    assert model_size("smollm2-135m") == 1.35e8 and model_size("gemma3-270m") == 2.7e8
    assert model_size("HuggingFaceTB/SmolLM2-1.7B-Instruct") == 1.7e9 and model_size("fake-model") is None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    labels = {}
    for lo, hi in ((0, 400_000), (500, 1024), (0, 1_500_000), (0, 3e9)):
        ax.set_xlim(lo, hi)
        human_axis(ax.xaxis)
        fig.canvas.draw()
        labels[hi] = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert "400k" in labels[400_000] and all(x.endswith("k") for x in labels[400_000])
    assert "1,000" in labels[1024] and "800" in labels[1024]  # under 10,000: plain numbers
    assert all(x.endswith("M") for x in labels[1_500_000]) and len(set(labels[1_500_000])) == len(labels[1_500_000])
    assert "3B" in labels[3e9] or "3.0B" in labels[3e9]


def test_single_seed_and_no_baseline_say_so(tmp_path: Path) -> None:
    root = write_grid(tmp_path / "g", {"a/mix50": {"macro": [0.1], "bpb": [2.0], "ratio": 0.5}})
    grid = load_grid_report(root)
    assert reading(grid.cell("a/mix50"), grid) == "macro 0.1 over 1 seed; no baseline to compare with."
    one_each = write_grid(tmp_path / "h", {BASE: {"macro": [0.1], "bpb": [2.0]},
                                           "a/mix50": {"macro": [0.2], "bpb": [1.9], "ratio": 0.5}})
    grid = load_grid_report(one_each)
    assert "noise unknown: one seed on a side" in reading(grid.cell("a/mix50"), grid)
    assert pytest.approx(0.1) == grid.cell("a/mix50").summary["macro_gap"]


def test_classifier_scores_get_a_column_a_plot_and_the_spearman(tmp_path: Path) -> None:
    points = [{"cell": c, "score": score, "macro": sum(CELLS[c]["macro"]) / 3}
              for c, score in (("up/mix50", 0.71), ("flat/mix50", 0.52), ("down/mix50", 0.33))]
    corr = {"classifiers": {"edu": {"cells": 3, "points": points, "spearman": 1.0, "p_value": 0.0}},
            "study_best_spearman": 0.61}
    grid = load_grid_report(write_grid(tmp_path / "g", CELLS, extra={"classifier_correlation": corr}))
    assert grid.cell("up/mix50").classifier_scores == {"edu": 0.71}
    figures = {f.name: f for f in grid_figures(grid)}
    assert "Spearman +1.00" in figures["classifier-scores"].svg
    page = build_report(tmp_path / "g")
    assert ">classifier: edu</th>" in page and ">0.71<" in page
    assert "edu: Spearman +1.00 over 3 cells (p <0.001)" in page and "best was 0.61" in page
