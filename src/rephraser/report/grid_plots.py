"""The experiment report's plots, chosen by the grid's shape (matplotlib, Agg backend, no display).

Always: the seed-noise strip (every seed of every cell, beside the baseline's seed range). Only when
the grid varies it: score vs synthetic share (two or more ratios), score vs generator size (two or more
sizes), score vs student size (two or more). Plus training curves, per-category scores and
classifier-score scatter when the folder holds them. Every cell keeps its colour (report/grid.py),
every plot has a legend, token axes read 100k / 1.2M / 3B, and every bits-per-byte axis names the
split it was measured on. Each figure is exported as SVG (text kept as text) and PNG.
"""

from __future__ import annotations

import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_write_bytes
from rephraser.report.grid import CellReport, GridReport

RC = {"font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "legend.fontsize": 8,
      "svg.fonttype": "none", "axes.spines.top": False, "axes.spines.right": False}
OWN_SPLIT = "held out from the cell's own training mixture (differs per cell)"


@dataclass
class Figure:
    name: str  # file stem
    title: str
    caption: str
    svg: str  # inline SVG (text as <text>)
    png: bytes


def human(x: float, _pos: Any = None) -> str:
    """Axis numbers people read: 950, 12k, 1.2M, 3B."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            v = x / size
            return f"{v:.0f}{unit}" if v == int(v) or abs(v) >= 100 else f"{v:.3g}{unit}"
    return f"{x:g}"


def human_axis(axis: Any) -> None:
    """One unit for the whole axis, chosen by its largest value (1,000 / 400k / 1.2M / 3B), with as many
    decimals as the tick step needs, so labels stay short and never mix units."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = axis.get_view_interval()
    top = max(abs(lo), abs(hi))
    # k from 10,000 on: 1,000-9,999 read fine as they are
    unit, suffix = next(((u, sfx) for start, u, sfx in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k"))
                         if top >= start), (1.0, ""))
    scaled = [t / unit for t in axis.get_majorticklocs()]
    decimals = next((d for d in range(4) if all(abs(round(v, d) - v) < 1e-6 for v in scaled)), 3)
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x / unit:,.{decimals}f}{suffix}"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _render(fig: Any, name: str) -> tuple[str, bytes]:
    plt = _pyplot()
    import matplotlib

    svg_buf, png_buf = io.StringIO(), io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "none"}):  # unique ids per inline figure
        fig.savefig(svg_buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    fig.savefig(png_buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    svg = svg_buf.getvalue()
    return svg[svg.index("<svg"):], png_buf.getvalue()  # drop the XML prolog: the SVG goes inline in HTML


def _legend_outside(ax: Any, **kw: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, **kw)


def _mean(vals: list[float]) -> float:
    return statistics.fmean(vals)


def _std(vals: list[float]) -> float:
    return statistics.stdev(vals) if len(vals) > 1 else 0.0


# ---- always: every seed of every cell -------------------------------------------------------------------
def seed_strip(grid: GridReport) -> Any | None:
    metrics = [("macro", f"macro score ({grid.metric}), higher is better")]
    if any(c.values("heldout_bpb") for c in grid.cells):
        metrics.append(("heldout_bpb", "held-out bits per byte on the common split, lower is better"))
    cells = [c for c in grid.cells if c.values("macro")]
    if not cells:
        return None
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 2.2, 0.42 * len(cells) + 1.6),
                             squeeze=False, sharey=True)
    base = grid.cell(grid.baseline)
    for ax, (metric, label) in zip(axes[0], metrics, strict=True):
        for y, c in enumerate(cells):
            vals = c.values(metric)
            if not vals:
                continue
            offsets = [(i - (len(vals) - 1) / 2) * 0.12 for i in range(len(vals))]  # seeds side by side, not stacked
            ax.scatter(vals, [y + o for o in offsets], s=22, color=c.colour, marker=c.marker, zorder=3,
                       edgecolors="white", linewidths=0.5)
            ax.plot([_mean(vals)] * 2, [y - 0.32, y + 0.32], color=c.colour, linewidth=2.2, zorder=2)
        if base is not None and base.values(metric):
            bv = base.values(metric)
            ax.axvspan(min(bv), max(bv), color="0.85", zorder=0)
            ax.axvline(_mean(bv), color="0.3", linestyle="--", linewidth=1, zorder=1)
        ax.set_xlabel(label)
        ax.xaxis.get_major_locator().set_params(nbins=5)
        ax.grid(axis="x", color="0.92", zorder=0)
    axes[0][0].set_yticks(range(len(cells)), [c.name for c in cells])
    axes[0][0].invert_yaxis()  # the table's order, top to bottom
    handles = [Line2D([], [], marker="o", linestyle="", color="0.4", label="one run (training seed)"),
               Line2D([], [], color="0.4", linewidth=2.2, label="mean over seeds")]
    if base is not None:
        handles += [Line2D([], [], color="0.3", linestyle="--", label=f"{base.name} mean"),
                    Patch(color="0.85", label=f"{base.name} seed range")]
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle("Seed noise: every seed of every cell", fontweight="bold")
    return fig


# ---- by the grid's shape ----------------------------------------------------------------------------------
def _baseline_lines(ax: Any, grid: GridReport) -> None:
    for b in (c for c in grid.cells if c.is_baseline and c.values("macro")):
        ax.axhline(_mean(b.values("macro")), color=b.colour, linestyle="--", linewidth=1,
                   label=f"{b.name} (no synthetic data)")


def _series_lines(ax: Any, groups: dict[str, list[tuple[float, CellReport]]]) -> None:
    """A thin grey line through each series' cell means; the cells themselves are coloured points."""
    for points in groups.values():
        pts = sorted((x, _mean(c.values("macro"))) for x, c in points if c.values("macro"))
        if len(pts) > 1:
            ax.plot(*zip(*pts, strict=True), color="0.7", linewidth=1, zorder=1)


def _cell_points(ax: Any, points: list[tuple[float, CellReport]]) -> None:
    for x, c in points:
        vals = c.values("macro")
        if vals:
            ax.errorbar([x], [_mean(vals)], yerr=[_std(vals)], marker=c.marker, color=c.colour, capsize=3,
                        linestyle="", markersize=6, zorder=3, label=c.name)


def ratio_plot(grid: GridReport) -> Any | None:
    if len(grid.ratios) < 2:
        return None
    plt = _pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    points = [(100 * c.ratio, c) for c in grid.synthetic if c.ratio is not None]
    groups: dict[str, list[tuple[float, CellReport]]] = {}
    for x, c in points:
        groups.setdefault(c.series, []).append((x, c))
    _series_lines(ax, groups)
    _cell_points(ax, points)
    _baseline_lines(ax, grid)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.xaxis.get_major_locator().set_params(nbins=6)
    ax.set_xlabel("synthetic share of the training tokens")
    ax.set_ylabel(f"macro score ({grid.metric})")
    ax.set_title("Score vs synthetic share (mean ± std over seeds)")
    _legend_outside(ax)
    return fig


def _sparse_log_ticks(ax: Any, values: list[float]) -> None:
    """Ticks at the sizes in the grid, labelled 135M / 1.7B, leaving out a label too close to the last one."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = math.log10(min(values)) - 0.15, math.log10(max(values)) + 0.15
    ax.set_xlim(10 ** lo, 10 ** hi)
    kept: list[float] = []
    for v in sorted(values):
        if not kept or (math.log10(v) - math.log10(kept[-1])) / (hi - lo) >= 0.12:
            kept.append(v)
    ax.xaxis.set_major_locator(FixedLocator(kept))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(human))


def size_plot(grid: GridReport, *, by: str) -> Any | None:
    """Score vs generator size (parameters named in the model) or vs student size (parameters trained)."""
    if by == "generator":
        sizes, xlabel = grid.generator_sizes, "generator parameters (as named in its model)"
        points = [(s, c) for c in grid.synthetic if (s := c.generator_size) is not None]
        key = lambda c: f"{c.prompt}|{c.ratio}"  # noqa: E731 - one line per prompt and share
    else:
        sizes, xlabel = grid.student_sizes, "student (proxy model) parameters"
        points = [(float(p), c) for c in grid.cells if (p := c.parameters) is not None]
        key = lambda c: f"{c.kind}|{c.prompt}|{c.generator}|{c.ratio}"  # noqa: E731
    if len(sizes) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.set_xscale("log")
    groups: dict[str, list[tuple[float, CellReport]]] = {}
    for x, c in points:
        groups.setdefault(key(c), []).append((x, c))
    _series_lines(ax, groups)
    _cell_points(ax, points)
    if by == "generator":
        _baseline_lines(ax, grid)
    _sparse_log_ticks(ax, [float(s) for s in sizes])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"macro score ({grid.metric})")
    ax.set_title(f"Score vs {by} size (mean ± std over seeds)")
    _legend_outside(ax)
    return fig


# ---- when present ----------------------------------------------------------------------------------------------
def curves_plot(grid: GridReport) -> Any | None:
    cells = [c for c in grid.cells if any(s.curve for s in c.seeds)]
    if not cells:
        return None
    plt = _pyplot()
    from matplotlib.lines import Line2D

    has_bpb = any(p.get("bpb") is not None for c in cells for s in c.seeds for p in s.curve)
    has_held = any(p.get("heldout_loss") is not None for c in cells for s in c.seeds for p in s.curve)
    fig, axes = plt.subplots(1, 2 if has_bpb else 1, figsize=(10.5 if has_bpb else 6, 3.8), squeeze=False)
    ax_loss = axes[0][0]
    x_tokens = all(p.get("tokens") is not None for c in cells for s in c.seeds for p in s.curve)
    x_key = "tokens" if x_tokens else "step"
    for c in cells:
        for s in c.seeds:
            train = [(p[x_key], p["loss"]) for p in s.curve if p.get("loss") is not None]
            if train:
                ax_loss.plot(*zip(*train, strict=True), color=c.colour, linewidth=1, alpha=0.85)
            held = [(p[x_key], p["heldout_loss"]) for p in s.curve if p.get("heldout_loss") is not None]
            if held:
                ax_loss.plot(*zip(*held, strict=True), color=c.colour, linewidth=1.2, linestyle="--", marker=".")
            if has_bpb:
                bpb = [(p[x_key], p["bpb"]) for p in s.curve if p.get("bpb") is not None]
                if bpb:
                    axes[0][1].plot(*zip(*bpb, strict=True), color=c.colour, linewidth=1.2, marker=".")
    xlabel = "training tokens" if x_tokens else "optimizer steps"
    for ax in axes[0]:
        ax.set_xlabel(xlabel)
        ax.xaxis.get_major_locator().set_params(nbins=5)
        human_axis(ax.xaxis)
    ax_loss.set_ylabel("loss (nats per token)")
    ax_loss.set_title("Training loss" + (" (solid) and held-out loss (dashed)" if has_held else ""))
    handles = [Line2D([], [], color=c.colour, linewidth=2, label=c.name) for c in cells]
    handles.append(Line2D([], [], color="0.4", linewidth=1, label="training loss"))
    if has_held:
        handles.append(Line2D([], [], color="0.4", linewidth=1.2, linestyle="--", marker=".",
                              label=f"held-out loss: {OWN_SPLIT}"))
    if has_bpb:
        axes[0][1].set_ylabel("bits per byte")
        axes[0][1].set_title("Bits per byte on each cell's own mixture split")
        handles.append(Line2D([], [], color="0.4", marker=".", label=f"bits per byte: {OWN_SPLIT}; the common "
                              "split's values are in the table and the seed strip"))
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def category_plot(grid: GridReport) -> Any | None:
    cells = [c for c in grid.cells if any(s.categories for s in c.seeds)]
    if not cells:
        return None
    cats = sorted({k for c in cells for s in c.seeds for k in s.categories})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(cats) + 2.5), 3.6))
    width = 0.8 / len(cells)
    for j, c in enumerate(cells):
        means = []
        for k in cats:
            vals = [float(s.categories[k]) for s in c.seeds if isinstance(s.categories.get(k), (int, float))]
            means.append(_mean(vals) if vals else float("nan"))
        xs = [i + (j - (len(cells) - 1) / 2) * width for i in range(len(cats))]
        ax.bar(xs, means, width=width, color=c.colour, label=c.name)
    ax.set_xticks(range(len(cats)), cats, rotation=30 if len(cats) > 8 else 0, ha="right" if len(cats) > 8 else "center")
    ax.set_ylabel(f"category score ({grid.metric}, mean over seeds)")
    ax.set_title("Score per benchmark category")
    _legend_outside(ax)
    return fig


def classifier_plot(grid: GridReport) -> Any | None:
    corr = (grid.classifier_correlation or {}).get("classifiers") or {}
    names = [n for n in corr if sum(1 for c in grid.cells if n in c.classifier_scores and c.values("macro")) >= 2]
    if not names:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names) + 2, 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for c in grid.cells:
            if name in c.classifier_scores and c.values("macro"):
                ax.scatter([c.classifier_scores[name]], [_mean(c.values("macro"))], color=c.colour, marker=c.marker,
                           s=30, label=c.name, zorder=3)
        rho = corr[name].get("spearman")
        ax.set_title(f"{name}: Spearman {rho:+.2f}" if isinstance(rho, (int, float)) else f"{name}: too few cells")
        ax.set_xlabel(f"mean {name} score of the cell's rewrites")
        ax.set_ylabel(f"macro score ({grid.metric})")
        ax.xaxis.get_major_locator().set_params(nbins=5)
    _legend_outside(axes[0][-1])
    return fig


# ---- all of them --------------------------------------------------------------------------------------------
def grid_figures(grid: GridReport, export_dir: Path | None = None) -> list[Figure]:
    """Every plot the grid's shape calls for, rendered; written as <name>.svg and <name>.png when export_dir."""
    import matplotlib

    wanted = [
        ("seed-noise", "Seed noise", seed_strip,
         "Each dot is one training seed; the bar is the cell's mean. The grey band is the baseline's seed range "
         "and the dashed line its mean. Held-out bits per byte are measured on the common split: " + grid.heldout + "."),
        ("score-vs-share", "Score vs synthetic share", ratio_plot,
         "Cells of one series (same prompt, generator and source) are joined by a grey line; dashed lines are "
         "baselines without synthetic data."),
        ("score-vs-generator-size", "Score vs generator size", lambda g: size_plot(g, by="generator"),
         "Generator size as named in its model (e.g. 135m, 1.7B); grey lines join cells of one prompt and share."),
        ("score-vs-student-size", "Score vs student size", lambda g: size_plot(g, by="student"),
         "Student = the proxy model trained on the cell's mixture; parameters as counted by training."),
        ("training-curves", "Training curves", curves_plot,
         "Loss and bits per byte as training went, one colour per cell (its seeds share it). These held-out "
         f"values are {OWN_SPLIT}; compare cells on the common split in the table and the seed strip."),
        ("categories", "Score per category", category_plot, "Mean over seeds of each benchmark category."),
        ("classifier-scores", "Quality-classifier score vs macro", classifier_plot,
         "Does a quality classifier's score of a cell's rewrites predict its macro score? (The study's best "
         "Spearman was 0.61.)"),
    ]
    out: list[Figure] = []
    with matplotlib.rc_context(RC):
        for name, title, make, caption in wanted:
            fig = make(grid)
            if fig is None:
                continue
            svg, png = _render(fig, name)
            if export_dir is not None:
                atomic_write_bytes(export_dir / f"{name}.svg", svg.encode("utf-8"))
                atomic_write_bytes(export_dir / f"{name}.png", png)
            out.append(Figure(name, title, caption, svg, png))
    return out
