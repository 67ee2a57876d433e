"""Seed-noise statistics for comparing a cell with a baseline (the study's significance reporting).

Each cell is trained with several seeds; the question is whether its mean score differs from the
baseline's by more than seed noise. With n1, n2 seeds and sample standard deviations s1, s2:

    pooled_std = sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2))
    SE         = pooled_std * sqrt(1/n1 + 1/n2)          (standard error of the difference of means)
    gap/SE     = (mean1 - mean2) / SE                     (a two-sample t statistic)
    Cohen's d  = (mean1 - mean2) / pooled_std             (the gap in units of seed noise)

The study reports gaps of 14-26x the noise with ~1% coefficient of variation over seeds. Values
that cannot be computed (one seed on both sides, zero noise) are None, never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1); std is None for a single value."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    mean = math.fsum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def pooled_std(s1: float | None, n1: int, s2: float | None, n2: int) -> float | None:
    if n1 + n2 <= 2:
        return None
    v1 = (s1 or 0.0) ** 2 * (n1 - 1)
    v2 = (s2 or 0.0) ** 2 * (n2 - 1)
    return math.sqrt((v1 + v2) / (n1 + n2 - 2))


def compare(cell: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Gap of cell over baseline with pooled std, SE, gap/SE and Cohen's d."""
    c = [float(v) for v in cell if v is not None and math.isfinite(v)]
    b = [float(v) for v in baseline if v is not None and math.isfinite(v)]
    m1, s1 = mean_std(c)
    m2, s2 = mean_std(b)
    out: dict[str, Any] = {"n": len(c), "n_baseline": len(b), "gap": None, "pooled_std": None, "se": None,
                           "gap_over_se": None, "cohens_d": None}
    if m1 is None or m2 is None:
        return out
    gap = m1 - m2
    sp = pooled_std(s1, len(c), s2, len(b))
    out.update(gap=gap, pooled_std=sp)
    if sp is not None and sp > 0:
        se = sp * math.sqrt(1 / len(c) + 1 / len(b))
        out.update(se=se, gap_over_se=gap / se, cohens_d=gap / sp)
    return out


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    m, s = mean_std(values)
    if m is None or s is None or m == 0:
        return None
    return s / abs(m)
