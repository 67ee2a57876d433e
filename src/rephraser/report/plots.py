"""A run report's plots as PNG bytes (matplotlib, Agg backend: no display, no network).

  compliance_plot({prompt: fraction or None})
  length_ratio_plot({prompt: [output chars / source chars, ...]})
Experiment plots (seed noise, mix ratio, sizes, curves) live in grid_plots.py.
"""

from __future__ import annotations

import base64
import io


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
