"""A one-line reading of each cell, generated from its numbers only.

The words say what the numbers say and nothing more: a direction (above / below the baseline), the
size of the gap in units of its standard error, and whether that is beyond seed noise (|gap/SE| >= 2,
a two-sample t statistic of about 2). No adjective that the numbers do not carry.
"""

from __future__ import annotations

from typing import Any

from rephraser.report.grid import CellReport, GridReport

NOISE_SE = 2.0  # |gap/SE| at or above this counts as beyond seed noise


def noise_marker(gap_over_se: float | None) -> tuple[str, str]:
    """(css class, text) of the "beyond seed noise" column."""
    if gap_over_se is None:
        return "noise-unknown", "–"
    if gap_over_se >= NOISE_SE:
        return "beyond-noise above", "▲ beyond noise"
    if gap_over_se <= -NOISE_SE:
        return "beyond-noise below", "▼ beyond noise"
    return "within-noise", "within noise"


def _n(v: float | None, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _gap_words(metric: str, gap: float | None, gap_se: float | None, baseline: str, digits: int) -> str | None:
    """e.g. "macro 0.0021 above baseline-x (gap/SE +3.1: beyond seed noise)"."""
    if gap is None:
        return None
    side = "equal to" if gap == 0 else ("above" if gap > 0 else "below")
    if gap_se is None:
        noise = "seed noise unknown: one seed per side or no spread"
    else:
        noise = f"gap/SE {gap_se:+.1f}: {'beyond' if abs(gap_se) >= NOISE_SE else 'within'} seed noise"
    return f"{metric} {abs(gap):.{digits}f} {side} {baseline} ({noise})"


def reading(cell: CellReport, grid: GridReport) -> str:
    s: dict[str, Any] = cell.summary
    mean, std = cell.mean_std("macro")
    n = len(cell.values("macro"))
    if mean is None:
        return "not evaluated yet."
    spread = f"macro {_n(mean)}" + (f" ± {_n(std)}" if std is not None else "") + f" over {n} seed{'s' * (n != 1)}"
    if cell.is_baseline and cell.name == grid.baseline:
        cv = s.get("macro_cv")
        return f"The reference: {spread}" + (f"; seed noise (CV) {100 * cv:.1f}%." if cv is not None else ".")
    if not grid.baseline or grid.cell(grid.baseline) is None:
        return f"{spread}; no baseline to compare with."
    parts = [_gap_words("macro", s.get("macro_gap"), s.get("macro_gap_over_se"), grid.baseline, 4),
             _gap_words("held-out bpb", s.get("heldout_bpb_gap"), s.get("heldout_bpb_gap_over_se"), "the baseline's", 3)]
    said = [p for p in parts if p]
    if not said:
        return f"{spread}; the baseline has no evaluated seed yet."
    text = "; ".join(said)
    return text[0].upper() + text[1:] + "."
