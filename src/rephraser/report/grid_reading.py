"""A one-line reading of each cell, generated from its numbers only.

The words say what the numbers say and nothing more: a direction (above / below the baseline), the
gap with its t statistic and degrees of freedom, its Holm-adjusted p-value, and whether that is beyond
noise (adjusted p < 0.05, decided by experiments/significance.py and read from results.json). No adjective that the numbers do not carry.
Numbers are printed to significant digits (report/numbers.py), so a tiny gap is never "0.0000".
"""

from __future__ import annotations

from typing import Any

from rephraser.report.grid import CellReport, GridReport
from rephraser.report.numbers import p_text, pm, sig


def noise_marker(beyond: bool | None, gap: float | None, lower_is_better: bool = False) -> tuple[str, str]:
    """(css class, text) of the "beyond noise" column, from the grid's Holm-corrected test."""
    if beyond is None or gap is None:
        return "noise-unknown", "–"
    if not beyond:
        return "within-noise", "within noise"
    if (gap > 0) != lower_is_better:
        return "beyond-noise above", "▲ beyond noise"
    return "beyond-noise below", "▼ beyond noise"


def _gap_words(metric: str, s: dict[str, Any], key: str, baseline: str) -> str | None:
    """e.g. "macro 0.00212 above baseline-x (t +3.1, df 4, Holm p 0.040: beyond noise)"."""
    gap = s.get(f"{key}_gap")
    if gap is None:
        return None
    side = "equal to" if gap == 0 else ("above" if gap > 0 else "below")
    t, df, p, beyond = (s.get(f"{key}_{k}") for k in ("gap_over_se", "df", "p_holm", "beyond_noise"))
    if t is None:
        noise = "noise unknown: one seed on a side or no spread"
    elif p is None:
        noise = f"t {sig(t, 2, signed=True)}; no corrected p-value (results written before it existed)"
    else:
        verdict = "beyond noise" if beyond else "within noise"
        noise = f"t {sig(t, 2, signed=True)}, df {sig(df, 2)}, Holm p {p_text(p)}: {verdict}"
    return f"{metric} {sig(abs(gap), 3)} {side} {baseline} ({noise})"


def reading(cell: CellReport, grid: GridReport) -> str:
    s: dict[str, Any] = cell.summary
    mean, std = cell.mean_std("macro")
    n = len(cell.values("macro"))
    if mean is None:
        return "not evaluated yet."
    spread = f"macro {pm(mean, std)} over {n} seed{'s' * (n != 1)}"
    if cell.is_baseline and cell.name == grid.baseline:
        cv = s.get("macro_cv")
        return f"The reference: {spread}" + (f"; seed noise (CV) {100 * cv:.1f}%." if cv is not None else ".")
    if not grid.baseline or grid.cell(grid.baseline) is None:
        return f"{spread}; no baseline to compare with."
    parts = [_gap_words("macro", s, "macro", grid.baseline),
             _gap_words("held-out bpb", s, "heldout_bpb", "the baseline's")]
    said = [p for p in parts if p]
    if not said:
        return f"{spread}; the baseline has no evaluated seed yet."
    text = "; ".join(said)
    return text[0].upper() + text[1:] + "."
