"""The experiment part of the HTML report: one results table, a reading per cell, and the plots.

The table holds what the terminal table holds (macro also ×100 as the study prints it, gap with its
95% CI, Welch t and df, Holm-adjusted p, Cohen's d, held-out bpb and its gap, compliance, opening
collapse, generated tokens) plus the rewrites' diversity and faithfulness and any quality-classifier
scores, a "beyond noise" marker (Holm-adjusted p < 0.05, from results.json) and a link to the rows each
cell trained on. Numbers are shown to significant digits (report/numbers.py). Plots are inline SVG with PNG and SVG files beside the page for a paper.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from rephraser.postprocess.stats import compute_stats
from rephraser.report.grid import CellReport, GridReport
from rephraser.report.grid_plots import Figure
from rephraser.report.grid_reading import noise_marker, reading
from rephraser.report.numbers import DASH, p_text, sig, x100
from rephraser.report.numbers import pm as _pm

e = html.escape


def _n(v: Any, digits: int = 3, signed: bool = False) -> str:
    return sig(v, digits, signed=signed)


def _tdf(s: dict[str, Any], metric: str) -> str:
    t, df = s.get(f"{metric}_gap_over_se"), s.get(f"{metric}_df")
    return DASH if t is None else f"{sig(t, 2, signed=True)} ({sig(df, 2)})"


def _ci(s: dict[str, Any], scale: float = 1.0) -> str:
    lo, hi = s.get("macro_ci95_low"), s.get("macro_ci95_high")
    return DASH if lo is None or hi is None else f"[{sig(scale * lo, 2)}, {sig(scale * hi, 2)}]"


def _pct(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{100 * v:.0f}%"


def _int(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{int(v):,}"


def rewrite_stats(dirs: list[Path]) -> dict[str, Any]:
    """Diversity and faithfulness of the rewrites a cell trained on (postprocess/stats.py over its generate
    stages; the mean when a cell mixes several)."""
    found: list[dict[str, Any]] = []
    for d in dirs:
        try:
            prompts = compute_stats(d, quality=False)["prompts"]
        except Exception:  # noqa: BLE001 - a figure the report cannot read is shown as "–", never a crash
            continue
        found += [s for p, s in prompts.items() if p != "_input"]
    if not found:
        return {}

    def mean(get) -> float | None:  # noqa: ANN001
        vals = [v for s in found if isinstance(v := get(s), (int, float))]
        return sum(vals) / len(vals) if vals else None

    return {
        "distinct_2": mean(lambda s: (s.get("distinct") or {}).get("distinct_2")),
        "invented_number_rate": mean(lambda s: (s.get("faithfulness") or {}).get("invented_number_rate")),
        "invented_entity_rate": mean(lambda s: (s.get("faithfulness") or {}).get("invented_entity_rate")),
        "content_recall": mean(lambda s: (s.get("faithfulness") or {}).get("mean_content_recall")),
    }


def _table(grid: GridReport, links: dict[str, list[tuple[str, str]]], rewrites: dict[str, dict[str, Any]]) -> str:
    classifiers = sorted({k for c in grid.cells for k in c.classifier_scores})
    heads = [("", ""), ("cell", ""), ("seeds", "evaluated / planned training seeds"),
             ("macro", f"macro {grid.metric}: mean ± std over seeds"),
             ("macro ×100", "the same, ×100 as the study prints it"),
             ("gap", f"cell mean − {grid.baseline or 'baseline'} mean"),
             ("95% CI ×100", "95% confidence interval of the gap, ×100 (Welch t, seed and item noise)"),
             ("t (df)", "Welch t of the gap (seed noise, plus benchmark-item noise from a paired bootstrap) "
                        "and its degrees of freedom"),
             ("p (Holm)", "two-sided p-value, Holm-adjusted over the grid's cells"),
             ("noise", "▲/▼ beyond noise when the Holm-adjusted p < 0.05; else within noise"),
             ("d", "Cohen's d: gap over the pooled seed std"),
             ("held-out bpb", "bits per byte on the common held-out split (the same documents for every cell): "
                              "lower is better"),
             ("bpb gap", "cell − baseline held-out bpb (negative = lower = better)"),
             ("bpb t (df)", "Welch t of the bpb gap (seed noise) and its degrees of freedom"), ("compliance", "share of outputs that met the prompt's contract"),
             ("opening collapse", "share of outputs opening with the most common first words"),
             ("distinct-2", "unique / total word bigrams of the rewrites"),
             ("invented numbers", "share of rewrites with a number that is not in their source"),
             ("content recall", "mean share of the source's content words kept"),
             ("generated tokens", "output tokens of the rewrites in the cell's generate stage"),
             *[(f"classifier: {k}", f"mean {k} score of the rewrites") for k in classifiers]]
    head = "".join(f'<th title="{e(t)}">{e(h)}</th>' for h, t in heads)
    body = []
    for c in grid.cells:
        s, rw = c.summary, rewrites.get(c.name, {})
        mean, std = c.mean_std("macro")
        bmean, bstd = c.mean_std("heldout_bpb")
        reference = c.name == grid.baseline
        if reference:  # its gaps to itself are zero by construction: say what it is instead
            s = {k: v for k, v in s.items() if "_gap" not in k and not k.endswith("_cohens_d")}
        cls, text = ("reference", "reference") if reference else \
            noise_marker(s.get("macro_beyond_noise"), s.get("macro_gap"))
        planned = s.get("seeds_planned")
        link = " ".join(f'<a class="rows-link" href="{e(href)}">{e(label)}</a>' for label, href in links.get(c.name, [])) \
            or ('<span class="note">original documents only</span>' if c.is_baseline else "")
        text_cols = [
            f'<span class="swatch" style="background:{e(c.colour)}"></span>',
            f'<b>{e(c.name)}</b>' + (' <span class="note">(baseline)</span>' if c.is_baseline else "")
            + (f'<br><span class="cell-rows">{link}</span>' if link else ""),
        ]
        num_cols = [
            f"{len(c.values('macro'))}" + (f"/{planned}" if planned else ""),
            _pm(mean, std), _pm(x100(mean), x100(std)), _n(s.get("macro_gap"), 3, True), _ci(s, 100), _tdf(s, "macro"),
            p_text(None if reference else s.get("macro_p_holm")),
            f'<span class="{cls}">{e(text)}</span>', _n(s.get("macro_cohens_d"), 2, True),
            _pm(bmean, bstd), _n(s.get("heldout_bpb_gap"), 2, True), _tdf(s, "heldout_bpb"),
            _pct(s.get("compliance")), _pct(s.get("opening_collapse")), _n(rw.get("distinct_2"), 2),
            _pct(rw.get("invented_number_rate")), _n(rw.get("content_recall"), 2), _int(s.get("gen_tokens")),
            *[_n(c.classifier_scores.get(k), 3) for k in classifiers],
        ]
        body.append(f'<tr class="cell-row" data-cell="{e(c.name)}">' + "".join(f"<td>{v}</td>" for v in text_cols)
                    + "".join(f'<td class="num">{v}</td>' for v in num_cols) + "</tr>")
        body.append(f'<tr class="reading" data-cell="{e(c.name)}"><td></td><td colspan="{len(heads) - 1}">'
                    f'{e(reading(c, grid))}</td></tr>')
    return f'<div class="table-scroll"><table class="grid results" id="results-table"><thead><tr>{head}</tr></thead>' \
           f'<tbody>{"".join(body)}</tbody></table></div>'


def _figure(f: Figure, files_href: str) -> str:
    return (f'<figure class="plot" id="plot-{e(f.name)}" data-plot="{e(f.name)}">{f.svg}'
            f'<figcaption><b>{e(f.title)}.</b> {e(f.caption)} Export: '
            f'<a href="{e(files_href)}/{e(f.name)}.png" download>PNG</a> · '
            f'<a href="{e(files_href)}/{e(f.name)}.svg" download>SVG</a></figcaption></figure>')


def _correlation(grid: GridReport) -> str:
    corr = grid.classifier_correlation or {}
    lines = []
    for name, entry in (corr.get("classifiers") or {}).items():
        rho = entry.get("spearman")
        rho_text = f"{rho:+.2f}" if isinstance(rho, (int, float)) else DASH  # bounded in [-1, 1]: 2 decimals read well
        lines.append(f"{e(name)}: Spearman {rho_text} over {entry.get('cells')} cells"
                     + (f" (p {p_text(entry.get('p_value'))})" if rho is not None else f" ({e(str(entry.get('reason', '')))})"))
    if not lines:
        return ""
    best = corr.get("study_best_spearman")
    return (f'<p class="note">Quality-classifier scores vs macro: {"; ".join(lines)}. '
            f'The study\'s best was {best}.</p>')


def grid_section(grid: GridReport, figures: list[Figure], links: dict[str, list[tuple[str, str]]],
                 rewrites: dict[str, dict[str, Any]], files_href: str) -> str:
    base = grid.cell(grid.baseline)
    if base is not None:
        intro = (f"Every cell is compared with <b>{e(base.name)}</b>: gap = cell mean − baseline mean over training "
                 "seeds, tested with Welch's t (each side keeps its own seed spread); macro's standard error also "
                 "holds the benchmark's item noise (a paired bootstrap over the items every cell was scored on). "
                 "A cell is <b>beyond noise</b> when its p-value, Holm-adjusted over the grid's cells, is below "
                 "0.05 (▲ better, ▼ worse than the baseline).")
    else:
        intro = "No baseline cell: the table shows each cell's scores over its seeds, without gaps."
    heldout = f" Held-out bits per byte (bpb) are measured on {e(grid.heldout)}." if grid.heldout else ""
    figs = "".join(_figure(f, files_href) for f in figures)
    return (f'<section id="experiment"><h2>Experiment results: {e(grid.name)}</h2>'
            f'<p class="note">{intro}{heldout} Each cell has one colour in the table and in every plot.</p>'
            f'{_table(grid, links, rewrites)}{_correlation(grid)}'
            f'<div class="plots">{figs}</div></section>')


GRID_CSS = """
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: middle; }
table.results tr.reading td { border-top: none; color: var(--muted); font-size: 12.5px; padding-top: 0; }
table.results tr.cell-row td { border-bottom: none; }
.beyond-noise { font-weight: 700; white-space: nowrap; }
.beyond-noise.above { color: var(--ok); } .beyond-noise.below { color: var(--fail); }
.within-noise, .reference { color: var(--muted); white-space: nowrap; }
table.results { font-size: 12.5px; }
table.results td, table.results th { padding: 3px 6px; }
table.results td.num { white-space: nowrap; }
table.results th { font-size: 12px; }
.table-scroll { overflow-x: auto; }
.cell-rows { font-size: 12px; white-space: nowrap; }
figure.plot { flex: 0 1 auto; }
figure.plot svg { max-width: 100%; height: auto; display: block; }
"""


def cell_links(cell: CellReport, pages: dict[Path, str]) -> list[tuple[str, str]]:
    """(label, href) of the viewer pages of the rows a cell trained on (ok rows: the ones its mixture took)."""
    many = len(cell.generate_dirs) > 1
    return [((f"rows it trained on ({i + 1})" if many else "rows it trained on"), f"{pages[d]}?status=ok#viewer")
            for i, d in enumerate(cell.generate_dirs) if d in pages]
