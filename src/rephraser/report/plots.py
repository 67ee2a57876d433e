"""A run report's plots as PNG bytes (matplotlib, Agg backend: no display, no network).

  compliance_plot({prompt: fraction or None})
  length_ratio_plot({prompt: [output chars / source chars, ...]})
  faithfulness_plot({prompt: {format_compliance, content_floor_pass, invented_number_rate, ...}})
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


# (stats key, legend label, colour): the row verdict's two halves, then what the content measures found.
FAITH_BARS = (
    ("format_compliance", "format compliance", "#3b6fb6"),
    ("content_floor_pass", "content floor pass (of well-formed)", "#2e8b57"),
    ("invented_number_rate", "rows with invented numbers", "#d9822b"),
    ("invented_entity_rate", "rows with invented names", "#c0392b"),
    ("mean_content_recall", "mean content recall", "#7d5ba6"),
)


def faithfulness_plot(per_prompt: dict[str, dict[str, float | None]]) -> bytes | None:
    """Compliance beside faithfulness, per prompt: a format that passes says nothing about content."""
    items = [(p, d) for p, d in per_prompt.items() if any(d.get(k) is not None for k, _, _ in FAITH_BARS)]
    if not items:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(items) + 3), 3.6))
    width = 0.8 / len(FAITH_BARS)
    for j, (key, label, colour) in enumerate(FAITH_BARS):
        xs = [i + (j - (len(FAITH_BARS) - 1) / 2) * width for i in range(len(items))]
        values = [100 * (d.get(key) or 0.0) for _, d in items]
        bars = ax.bar(xs, values, width, label=label, color=colour)
        ax.bar_label(bars, labels=["–" if d.get(key) is None else f"{100 * d[key]:.0f}" for _, d in items],
                     fontsize=7)
    ax.set_xticks(range(len(items)), [p for p, _ in items], rotation=30)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% of rows (recall: mean × 100)")
    ax.set_title("Compliance beside faithfulness per prompt")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)
