"""Numbers as people read them: significant digits, never a fixed count of decimals.

A fixed "4 decimals" prints a real gap of 2.15e-05 as "+0.0000" and a tiny model's macro as
"0.0008 ± 0.0000". Here every value keeps its leading digits, a mean is shown to the precision of
its spread, and an exact zero is "0". Files (CSV, JSON) keep full precision; only the text rounds.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def sig(v: Any, digits: int = 3, signed: bool = False, dash: str = DASH) -> str:
    """`v` to `digits` significant digits: 0.000812, 2.15e-05, 12.3, 4,096; "+" in front when signed."""
    x = _num(v)
    if x is None:
        return dash
    if x == 0:
        return "0"
    # a count or a large value: a whole number with separators
    text = f"{x:,.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"
    return ("+" + text) if signed and x > 0 else text


def decimals_for(v: float, digits: int) -> int:
    """How many decimals show `digits` significant digits of v (0 for large values)."""
    if not v:
        return 0
    exponent = int(f"{abs(v):.{digits - 1}e}".split("e")[1])  # after rounding: 0.00099999 is 1.0e-03
    return max(0, digits - 1 - exponent)


def pm(mean: Any, std: Any, digits: int = 3, dash: str = DASH) -> str:
    """mean ± std with std to 2 significant digits and the mean to the same last decimal (at least
    `digits` significant digits of its own): "0.00812 ± 0.00021", "2.41 ± 0.027"."""
    m, s = _num(mean), _num(std)
    if m is None:
        return dash
    if s is None:
        return sig(m, digits, dash=dash)
    places = max(decimals_for(m, digits), decimals_for(s, 2)) if s else decimals_for(m, digits)
    if m and abs(m) < 1e-4 or places > 9:  # very small: scientific keeps it short
        return f"{sig(m, digits)} ± {sig(s, 2)}"
    return f"{m:.{places}f} ± {s:.{places}f}"


def x100(v: Any) -> float | None:
    """The study prints macro scores as percentages (×100)."""
    x = _num(v)
    return None if x is None else 100 * x


def p_text(p: Any) -> str:
    """A p-value: two significant digits, "<0.001" below that."""
    x = _num(p)
    if x is None:
        return DASH
    return "<0.001" if x < 0.001 else f"{x:.2g}"
