"""One self-contained HTML report for a run output folder (or an experiment folder).

Everything is inline: CSS, the viewer's JavaScript, its rows as JSON, and plots as base64 PNG, so the
file opens offline from anywhere and can be attached to an issue or mailed as-is.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.postprocess.stats import compute_stats
from rephraser.report import plots
from rephraser.report.grid import GridReport, load_grid_report
from rephraser.report.grid_page import GRID_CSS, cell_links, grid_section, rewrite_stats
from rephraser.report.grid_plots import grid_figures
from rephraser.report.routes import html_rows as routing_html_rows
from rephraser.report.summary import RunSummary, generation_stats, summarize
from rephraser.report.viewer import viewer_html, viewer_payload
from rephraser.report.viewer_assets import CSS
from rephraser.run_folder import RunFolder, RunFolderError, open_run

e = html.escape


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    return str(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _flatten(d: dict[str, Any], prefix: str = "", limit: int = 80) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and len(out) < limit:
            out += _flatten(v, key + ".", limit - len(out))
        else:
            out.append((key, v))
        if len(out) >= limit:
            break
    return out


def _kv(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(_fmt(v))}</td></tr>" for k, v in pairs)
    return f'<table class="kv">{rows}</table>'


def _grid(headers: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="grid"><tr>{head}</tr>{body}</table>'


def _figure(png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    return f'<figure><img alt="{e(caption)}" src="{plots.data_uri(png)}"><figcaption>{e(caption)}</figcaption></figure>'


def _get(d: Any, *path: str) -> Any:
    for key in path:
        d = d.get(key) if isinstance(d, dict) else None
    return d


def _first(d: dict[str, Any], *dotted: str) -> Any:
    """The first of several candidate keys present in stats.json (runner versions name them differently)."""
    for key in dotted:
        v = _get(d, *key.split("."))
        if v is not None:
            return v
    return None


def _summary_section(run: RunFolder, summary: RunSummary) -> str:
    cfg, total, st = run.config, summary.total, run.stats
    eng, src = cfg.get("engine") or {}, cfg.get("source") or {}
    pairs: list[tuple[str, Any]] = [
        ("output folder", str(run.path)),
        ("source", src.get("path") or "embedded Wikipedia lead extracts"),
        ("prompts", ", ".join(summary.prompts)),
        ("models", ", ".join(total.models) or eng.get("model")),
        ("engine", ", ".join(summary.engines) or eng.get("kind")),
        ("sampling", cfg.get("sampling")),
        ("rollout", cfg.get("rollout")),
        ("rows ok / rejected / failed", f"{total.counts['ok']:,} / {total.counts['rejected']:,} / "
                                         f"{total.counts['failed']:,}"),
        ("documents", len({d for _, d in total.documents})),
        ("output tokens (ok rows)", total.completion_tokens),
        ("output tokens (all calls)", total.completion_tokens_all),
        ("input tokens", total.prompt_tokens),
        ("inputs truncated to fit the context", total.truncated_inputs),
        ("licenses", dict(summary.licenses)),
        ("output tok/s (stats.json)", _first(st, "session.output_tok_per_s", "output_tok_per_s", "tokens_per_second")),
        ("wall time s (stats.json)", _first(st, "session.wall_s", "wall_s", "wall_seconds")),
        (f"{_first(st, 'session.device') or 'GPU'}-hours per 1B output tokens at this speed",
         _first(st, "session.device_hours_per_billion_tokens", "session.gpu_hours_per_billion_tokens",
                "gpu_hours_per_billion_tokens")),
    ]
    stats = ('<details><summary>all of stats.json</summary>' + _kv(_flatten(run.stats)) + '</details>') if run.stats else \
        '<p class="note">No stats.json in this folder (run statistics such as tok/s and wall time are unavailable).</p>'
    return f'<section id="summary"><h2>Run summary</h2>{_kv(pairs)}{stats}</section>'


def _generation_section(gen: dict[str, dict[str, Any]]) -> str:
    headers = ["prompt", "rows", "ok", "rejected", "failed", "compliance", "opening collapse", "top openings",
               "length ratio mean / p5 / p50 / p95", "rejection reasons"]
    rows = []
    for name, s in gen.items():
        lr = s["length_ratio"]
        ratio = "–" if lr is None else " / ".join(f"{lr[k]:.2f}" for k in ("mean", "p5", "p50", "p95"))
        openings = "<br>".join(f"{e(repr(o))} {100 * share:.0f}%" for o, share in s["top_openings"]) or "–"
        reasons = "<br>".join(f"{e(r)} ({n})" for r, n in s["rejection_reasons"][:6]) or "–"
        if len(s["rejection_reasons"]) > 6:
            reasons += f"<br>… {len(s['rejection_reasons']) - 6} more"
        rows.append([e(name), f"{s['rows']:,}", f"{s['ok']:,}", f"{s['rejected']:,}", f"{s['failed']:,}",
                     _pct(s["compliance"]), _pct(s["opening_collapse"]), openings, ratio, reasons])
    note = ('<p class="note">Compliance = ok / (ok + rejected by the contract). Opening collapse = share of accepted '
            'outputs starting with the single most common first three words (high = template-like outputs). '
            'Length ratio = output characters / source characters of accepted outputs.</p>')
    return f'<section id="generation"><h2>Generation statistics per prompt</h2>{note}{_grid(headers, rows, raw=True)}</section>'


def _pp_stats(run: RunFolder) -> dict[str, Any] | str:
    """postprocess.stats of the run, or why they are unavailable (an optional part must not take the
    whole report down)."""
    try:
        return compute_stats(run.path)
    except Exception as exc:  # noqa: BLE001
        return str(exc)


def _pct_or_dash(v: Any) -> str:
    return _pct(v) if isinstance(v, (int, float)) else "–"


def _postprocess_stats_section(stats: dict[str, Any] | str) -> str:
    """Extra figures from postprocess.stats (faithfulness beside compliance, diversity, repetition, quality)."""
    if isinstance(stats, str):
        return f'<section id="pp-stats"><h2>Diversity and quality</h2><p class="note">unavailable: {e(stats)}</p></section>'
    prompts = _get(stats, "prompts")
    if not isinstance(prompts, dict) or not prompts:
        return ""
    faith_headers = ["prompt", "format compliance", "content floor pass", "rows with invented numbers",
                     "rows with invented names", "mean content recall", "mean 3-gram novelty"]
    faith_rows = []
    headers = ["prompt", "distinct-1 / 2 / 3", "compression ratio", "output tokens mean / p50 / p95",
               "heuristic quality pass rate", "rejections by rule"]
    rows = []
    for name, d in prompts.items():
        f = _get(d, "faithfulness") or {}
        faith_rows.append([str(name), _pct_or_dash(_get(d, "format_compliance")),
                           _pct_or_dash(_get(d, "content_floor_pass")), _pct_or_dash(f.get("invented_number_rate")),
                           _pct_or_dash(f.get("invented_entity_rate")), _fmt(f.get("mean_content_recall")),
                           _fmt(f.get("mean_novelty_3gram"))])
        distinct = " / ".join(_fmt(_get(d, "distinct", f"distinct_{n}")) for n in (1, 2, 3))
        toks = " / ".join(_fmt(_get(d, "output_tokens", k)) for k in ("mean", "p50", "p95"))
        rules = _get(d, "rejection_rules") or {}
        rule_text = ", ".join(f"{r}: {n}" for r, n in rules.items()) if isinstance(rules, dict) else _fmt(rules)
        pass_rate = _get(d, "quality", "pass_rate")
        rows.append([str(name), distinct, _fmt(_get(d, "compression_ratio")), toks,
                     _pct_or_dash(pass_rate), rule_text or "–"])
    faith_note = ('<p class="note">A right format says nothing about content. Format compliance = well-formed '
                  'outputs / judged outputs; content floor pass = of those, the share that kept enough of the '
                  'source (postprocess.floor); invented numbers / names = share of ok rows with a number or a '
                  'capitalised name the source does not have; content recall = share of the source\'s content '
                  'words found in the output (mean over ok rows).</p>')
    note = ('<p class="note">From <code>rephraser stats</code> (postprocess.stats). Distinct-n = unique / total '
            'n-grams over accepted outputs; compression ratio = compressed / raw bytes (lower = more repetitive).</p>')
    return (f'<section id="faithfulness"><h2>Faithfulness beside compliance</h2>{faith_note}'
            f'{_grid(faith_headers, faith_rows)}</section>'
            f'<section id="pp-stats"><h2>Diversity and quality</h2>{note}{_grid(headers, rows)}</section>')


def _routing_section(run: RunFolder) -> str:
    """Counts and outcomes by route (runs with routes only)."""
    headers, rows = routing_html_rows(run.path)
    if not rows:
        return ""
    note = ('<p class="note">Each document got only the prompts of the first route whose condition held; the rows\' '
            '<code>route_values</code> keep the facts that decided it.</p>')
    return f'<section id="routing"><h2>Routing</h2>{note}{_grid(headers, rows)}</section>'


def _faith_plot_data(stats: dict[str, Any] | str) -> dict[str, dict[str, Any]]:
    prompts = _get(stats, "prompts") if isinstance(stats, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {str(p): {"format_compliance": _get(d, "format_compliance"), "content_floor_pass": _get(d, "content_floor_pass"),
                     **{k: (_get(d, "faithfulness") or {}).get(k)
                        for k in ("invented_number_rate", "invented_entity_rate", "mean_content_recall")}}
            for p, d in prompts.items() if not str(p).startswith("_")}


def _run_plots(gen: dict[str, dict[str, Any]], stats: dict[str, Any] | str) -> str:
    figs = [
        _figure(plots.compliance_plot({p: s["compliance"] for p, s in gen.items()}), "Contract compliance per prompt"),
        _figure(plots.faithfulness_plot(_faith_plot_data(stats)), "Compliance beside faithfulness per prompt"),
        _figure(plots.length_ratio_plot({p: s["length_ratios"] for p, s in gen.items()}), "Length ratio per prompt"),
    ]
    figs = [f for f in figs if f]
    return f'<section id="plots"><h2>Plots</h2><div class="plots">{"".join(figs)}</div></section>' if figs else ""


def experiment_section(grid: GridReport, *, assets: Path | None = None, assets_href: str = "",
                       viewer_kwargs: dict[str, Any] | None = None) -> str:
    """Results table, readings and plots of an experiment folder (report/grid.py says what is read). With
    `assets`, plots are also written there as PNG + SVG, and each generate stage gets a viewer page of its
    rows that the cells trained on link to."""
    if not grid:
        return ""
    if assets is not None and assets.is_dir():  # files of an earlier report of this folder (the grid may have changed)
        for stale in [*assets.glob("*.svg"), *assets.glob("*.png"), *assets.glob("rows-*.html")]:
            stale.unlink(missing_ok=True)
    figures = grid_figures(grid, export_dir=assets)
    pages: dict[Path, str] = {}
    if assets is not None:
        for d in dict.fromkeys(d for c in grid.cells for d in c.generate_dirs):
            name = f"rows-{d.name}.html"
            write_report(d, assets / name, title=f"rows of generate stage {d.name}", **(viewer_kwargs or {}))
            pages[d] = f"{assets_href}/{name}"
    rewrites = {c.name: rewrite_stats(c.generate_dirs) for c in grid.cells if c.generate_dirs}
    links = {c.name: cell_links(c, pages) for c in grid.cells}
    return grid_section(grid, figures, links, rewrites, assets_href)


def build_report(out_dir: storage.PathLike, *, max_rows: int = 2000, seed: int = 0, max_chars: int = 20_000,
                 page_size: int = 25, title: str | None = None, assets: Path | None = None,
                 assets_href: str = "") -> str:
    """The complete HTML page. A run folder gets summary, statistics, plots and viewer; a folder with
    experiment results (a grid's results.json, or evaluation results below it) gets the experiment part;
    `assets` is where that part writes its plot files and rows pages (see experiment_section). Run
    folders may be remote (s3://…); experiment folders are local."""
    root = storage.as_location(out_dir)
    local = isinstance(root, Path) and root.is_dir()
    grid = load_grid_report(root) if local else GridReport(root=root, name="", cells=[])
    try:
        run: RunFolder | None = open_run(root)
    except RunFolderError:
        if not grid:
            raise
        run = None  # an experiment folder without run outputs of its own
    viewer_kwargs = {"max_rows": max_rows, "seed": seed, "max_chars": max_chars, "page_size": page_size}
    sections = []
    if run is not None:
        summary = summarize(run)
        gen = generation_stats(run)
        pp = _pp_stats(run)
        sections += [_summary_section(run, summary), _generation_section(gen), _routing_section(run),
                     _postprocess_stats_section(pp), _run_plots(gen, pp)]
    sections.append(experiment_section(grid, assets=assets, assets_href=assets_href, viewer_kwargs=viewer_kwargs))
    if run is not None:
        sections.append(viewer_html(viewer_payload(run, **viewer_kwargs)))
    name = title or f"rephraser report: {storage.folder_name(root)}"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(name)}</title><style>{CSS}{GRID_CSS}</style></head>
<body><header><h1>{e(name)}</h1><p>{e(str(root))} · generated {stamp}</p></header>
<main>{"".join(s for s in sections if s)}</main></body></html>
"""


def write_report(out_dir: storage.PathLike, output: storage.PathLike | None = None,
                 **kwargs: Any) -> storage.Location:
    """Write the page; an experiment's plot exports and rows pages go to `<page stem>_files/` beside it
    (experiments are local: a remote page gets no asset folder)."""
    target = storage.as_location(output) if output else storage.as_location(out_dir) / "report.html"
    assets = target.parent / f"{target.stem}_files" if isinstance(target, Path) else None
    text = build_report(out_dir, assets=assets, assets_href=assets.name if assets else "", **kwargs)
    return storage.write_text(target, text)
