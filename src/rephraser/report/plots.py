"""Report plots as PNG bytes (matplotlib, Agg backend: no display, no network).

Every function takes plain, documented Python data so the experiment grid can call it directly:
  compliance_plot({prompt: fraction or None})
  length_ratio_plot({prompt: [output chars / source chars, ...]})
  macro_by_cell_plot([{"cell": str, "seed": int, "macro": float}, ...])     mean ± std over seeds
  category_plot({cell: {category: score}})                                   grouped bars
  mix_ratio_plot([{"series": str, "ratio": float, "macro": float}, ...])    mean ± std per ratio
  training_curves_plot({label: [{"step", "tokens", "loss", "heldout_loss", "bpb"}, ...]})
Scores are plotted as given (the study reports macro ×100; pass whichever scale you use).
"""

from __future__ import annotations

import base64
import io
import math
import statistics
from collections import defaultdict
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")  # keeps legends placed outside the axes
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def compliance_plot(compliance: dict[str, float | None]) -> bytes | None:
    items = [(p, c) for p, c in compliance.items() if c is not None]
    if not items:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(items) + 2), 3.2))
    names, values = zip(*items, strict=True)
    bars = ax.bar(names, [100 * v for v in values], color="#3b6fb6")
    ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("format compliance (%)")
    ax.set_title("Contract compliance per prompt")
    ax.tick_params(axis="x", rotation=30)
    return _png(fig)


def length_ratio_plot(ratios: dict[str, list[float]]) -> bytes | None:
    items = [(p, r) for p, r in ratios.items() if r]
    if not items:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(items) + 2), 3.2))
    ax.boxplot([r for _, r in items], showfliers=True)
    ax.set_xticks(range(1, len(items) + 1), [p for p, _ in items], rotation=30)
    ax.axhline(1.0, color="#999", linestyle=":", linewidth=1)
    ax.set_ylabel("output chars / source chars")
    ax.set_title("Length ratio of accepted rewrites")
    return _png(fig)


def macro_by_cell_plot(scores: list[dict[str, Any]], *, title: str = "Macro score per cell") -> bytes | None:
    by_cell: dict[str, list[float]] = defaultdict(list)
    for s in scores:
        if s.get("macro") is not None and not math.isnan(float(s["macro"])):
            by_cell[str(s["cell"])].append(float(s["macro"]))
    if not by_cell:
        return None
    plt = _pyplot()
    cells = list(by_cell)
    stats = [_mean_std(by_cell[c]) for c in cells]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(cells) + 2), 3.4))
    ax.bar(cells, [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4, color="#5a8f4e", alpha=0.85)
    for i, c in enumerate(cells):  # every seed as a dot, so the spread is visible, not only summarised
        ax.scatter([i] * len(by_cell[c]), by_cell[c], color="#1d2330", s=10, zorder=3)
    ax.set_ylabel("macro score")
    n = max(len(v) for v in by_cell.values())
    ax.set_title(f"{title} (mean ± std over up to {n} seeds)")
    ax.tick_params(axis="x", rotation=30)
    return _png(fig)


def category_plot(categories: dict[str, dict[str, float]]) -> bytes | None:
    cells = [c for c, cats in categories.items() if cats]
    if not cells:
        return None
    cats = sorted({k for c in cells for k in categories[c]})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(cats) + 2), 3.6))
    width = 0.8 / len(cells)
    for j, c in enumerate(cells):
        xs = [i + (j - (len(cells) - 1) / 2) * width for i in range(len(cats))]
        ax.bar(xs, [categories[c].get(k, float("nan")) for k in cats], width=width, label=c)
    ax.set_xticks(range(len(cats)), cats)
    ax.set_ylabel("score")
    ax.set_title("Score per benchmark category")
    ax.legend(fontsize=7, ncols=min(3, len(cells)), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _png(fig)


def generator_plot(points: list[dict[str, Any]], baselines: list[dict[str, Any]] | None = None) -> bytes | None:
    """Macro score by generator (family/size, as named in the grid), one bar per prompt, mean ± std over
    seeds; baseline cells are drawn as horizontal reference lines."""
    by: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        if p.get("generator") and p.get("macro") is not None:
            by[str(p["generator"])][str(p.get("prompt") or "?")].append(float(p["macro"]))
    if not by:
        return None
    plt = _pyplot()
    gens = list(by)
    prompts = sorted({pr for g in gens for pr in by[g]})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(gens) + 2.5), 3.6))
    width = 0.8 / len(prompts)
    for j, pr in enumerate(prompts):
        xs, ms, sds = [], [], []
        for i, g in enumerate(gens):
            if by[g].get(pr):
                m, sd = _mean_std(by[g][pr])
                xs.append(i + (j - (len(prompts) - 1) / 2) * width)
                ms.append(m)
                sds.append(sd)
        ax.bar(xs, ms, width=width, yerr=sds, capsize=3, label=pr)
    base: dict[str, list[float]] = defaultdict(list)
    for b in baselines or []:
        base[str(b.get("cell"))].append(float(b["macro"]))
    for k, (name, vals) in enumerate(base.items()):
        ax.axhline(_mean_std(vals)[0], color="0.3", linestyle=("--", ":", "-.")[k % 3], linewidth=1, label=name)
    ax.set_xticks(range(len(gens)), gens)
    ax.set_xlabel("generator")
    ax.set_ylabel("macro score")
    ax.set_title("Score by generator and prompt")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=min(4, len(prompts) + len(base)))
    return _png(fig)


def mix_ratio_plot(points: list[dict[str, Any]]) -> bytes | None:
    series: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        if p.get("macro") is not None and p.get("ratio") is not None:
            series[str(p.get("series", "run"))][float(p["ratio"])].append(float(p["macro"]))
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, by_ratio in series.items():
        xs = sorted(by_ratio)
        stats = [_mean_std(by_ratio[x]) for x in xs]
        ax.errorbar([100 * x for x in xs], [m for m, _ in stats], yerr=[s for _, s in stats], marker="o",
                    capsize=3, label=name)
    ax.set_xlabel("synthetic share of training tokens (%)")
    ax.set_ylabel("macro score")
    ax.set_title("Score vs mix ratio")
    ax.legend(fontsize=8)
    return _png(fig)


def training_curves_plot(curves: dict[str, list[dict[str, Any]]]) -> bytes | None:
    """Loss (solid: train, dashed: held-out) and held-out bpb; one colour and legend entry per cell,
    shared by its seeds (labels ".../seedN"), so a grid of 15 runs stays readable."""
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return None
    plt = _pyplot()
    has_bpb = any(p.get("bpb") is not None for v in curves.values() for p in v)
    fig, axes = plt.subplots(1, 2 if has_bpb else 1, figsize=(10 if has_bpb else 5.5, 3.8), squeeze=False)
    ax_loss = axes[0][0]
    groups = list(dict.fromkeys(_strip_seed(label) for label in curves))
    colour = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    labelled: set[str] = set()
    for label, points in curves.items():
        group = _strip_seed(label)
        legend = group if group not in labelled else None
        labelled.add(group)
        x_key = "tokens" if all(p.get("tokens") is not None for p in points) else "step"
        xs = [p[x_key] for p in points if p.get("loss") is not None]
        ax_loss.plot(xs, [p["loss"] for p in points if p.get("loss") is not None], color=colour[group],
                     linewidth=1, alpha=0.8, label=legend)
        held = [(p[x_key], p["heldout_loss"]) for p in points if p.get("heldout_loss") is not None]
        if held:
            ax_loss.plot(*zip(*held, strict=True), linestyle="--", color=colour[group], linewidth=1)
        if has_bpb:
            bpb = [(p[x_key], p["bpb"]) for p in points if p.get("bpb") is not None]
            if bpb:
                axes[0][1].plot(*zip(*bpb, strict=True), marker=".", color=colour[group], linewidth=1)
    ax_loss.set_xlabel("tokens (or steps)")
    ax_loss.set_ylabel("loss (nats/token)")
    ax_loss.set_title("Training curves (solid train, dashed held-out)")
    ax_loss.legend(fontsize=7)
    if has_bpb:
        axes[0][1].set_xlabel("tokens (or steps)")
        axes[0][1].set_ylabel("held-out bits per byte")
        axes[0][1].set_title("Held-out bits per byte (each run's own split)")
    return _png(fig)


def _strip_seed(label: str) -> str:
    head, _, tail = label.rpartition("/")
    return head if head and tail.startswith("seed") else label
