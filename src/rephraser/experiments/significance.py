"""Is a cell's gap to the baseline beyond noise? Seed noise, benchmark-item noise, and many cells at once.

Each cell is trained with several seeds and scored on one fixed list of benchmark items. A gap
between two cells' means can come from three places besides a real effect:

  seed noise   the spread of the score over training seeds, s1 and s2 over n1 and n2 seeds;
  item noise   the benchmark is a sample of a few hundred items per task: another sample of the same
               size would rank the cells a little differently. Measured by a paired bootstrap over
               items (item_noise.py): the same resampled items for every cell and seed, so only the
               part of the item sampling that changes the GAP counts;
  many cells   with m cells each tested at 5%, about 0.05 m of them cross the line by chance.

The test is Welch's t, not the pooled-variance t: the cells of a grid need not have the same seed
spread (a cell trained on a narrow rewrite can be steadier or noisier than the baseline), and Welch
does not assume they do. With equal seed counts and equal spreads it gives the same t as the pooled
test; otherwise its degrees of freedom (Welch-Satterthwaite) are fewer, so it errs on the side of
"within noise". The item variance v_items joins the seed variances in the standard error; it is
estimated from a thousand resamples, so it enters the degrees of freedom as if known (infinite df):

    SE^2 = s1^2/n1 + s2^2/n2 + v_items
    df   = SE^4 / ((s1^2/n1)^2/(n1-1) + (s2^2/n2)^2/(n2-1))
    t    = gap / SE,   p = 2 P(T_df > |t|),   95% CI = gap ± t_{0.975, df} SE

`beyond_noise` of one comparison is p < 0.05. Over a grid, the cells' p-values are adjusted with
Holm's step-down method (it controls the chance of any false "beyond noise" at 5% across the grid,
without assuming the cells are independent — they share a baseline) and ▲/▼ follow the adjusted p.
Values that cannot be computed (one seed on a side, no spread at all) are None, never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

ALPHA = 0.05  # two-sided level of every test, and the family-wise level after Holm
CORRECTION = "holm"


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1); std is None for a single value."""
    vals = _finite(values)
    if not vals:
        return None, None
    mean = math.fsum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def pooled_std(s1: float | None, n1: int, s2: float | None, n2: int) -> float | None:
    """The seed spread both sides share (for Cohen's d, an effect size; the test itself is Welch's)."""
    if n1 + n2 <= 2:
        return None
    v1 = (s1 or 0.0) ** 2 * (n1 - 1)
    v2 = (s2 or 0.0) ** 2 * (n2 - 1)
    return math.sqrt((v1 + v2) / (n1 + n2 - 2))


class Comparison(TypedDict):
    """What `compare` says about one cell's gap to the baseline (None where the data cannot tell)."""

    n: int
    n_baseline: int
    gap: float | None
    se: float | None
    se_seed: float | None
    se_items: float | None
    df: float | None
    gap_over_se: float | None
    p_value: float | None
    ci95_low: float | None
    ci95_high: float | None
    pooled_std: float | None
    cohens_d: float | None
    beyond_noise: bool | None


def _finite(values: Sequence[object]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (df = inf: the normal)."""
    from scipy import stats

    return float(2 * stats.t.sf(abs(t), df)) if math.isfinite(df) else float(2 * stats.norm.sf(abs(t)))


def t_critical(df: float, alpha: float = ALPHA) -> float:
    from scipy import stats

    return float(stats.t.isf(alpha / 2, df)) if math.isfinite(df) else float(stats.norm.isf(alpha / 2))


def compare(cell: Sequence[float | None], baseline: Sequence[float | None], item_var: float | None = None,
            alpha: float = ALPHA) -> Comparison:
    """The gap of a cell's mean over the baseline's, tested with Welch's t (plus item noise if given).

    Returns n, n_baseline, gap, se (seed + item), se_seed, se_items, df, gap_over_se (the t statistic),
    p_value, ci95_low/ci95_high, pooled_std, cohens_d and beyond_noise (p < alpha, uncorrected: a grid
    corrects it with `holm`). None where the data cannot give the number.
    """
    c, b = _finite(cell), _finite(baseline)
    m1, s1 = mean_std(c)
    m2, s2 = mean_std(b)
    return compare_stats(m1, s1, len(c), m2, s2, len(b), item_var, alpha)


def compare_stats(m1: float | None, s1: float | None, n1: int, m2: float | None, s2: float | None, n2: int,
                  item_var: float | None = None, alpha: float = ALPHA) -> Comparison:
    """`compare` from summary statistics (mean, sample std, seed count of each side), e.g. a results table."""
    out: Comparison = {"n": n1, "n_baseline": n2, "gap": None, "se": None, "se_seed": None,
                           "se_items": None, "df": None, "gap_over_se": None, "p_value": None, "ci95_low": None,
                           "ci95_high": None, "pooled_std": None, "cohens_d": None, "beyond_noise": None}
    if m1 is None or m2 is None:
        return out
    gap = m1 - m2
    sp = pooled_std(s1, n1, s2, n2)
    out["gap"], out["pooled_std"], out["cohens_d"] = gap, sp, gap / sp if sp else None
    if s1 is None or s2 is None or n1 < 2 or n2 < 2:  # one seed on a side: its seed noise is unknown, no test
        return out
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    vi = item_var if item_var is not None and math.isfinite(item_var) and item_var >= 0 else None
    var = v1 + v2 + (vi or 0.0)
    out["se_seed"], out["se_items"] = math.sqrt(v1 + v2), None if vi is None else math.sqrt(vi)
    if var <= 0:  # no spread anywhere: nothing to test against
        return out
    se = math.sqrt(var)
    denom = v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)
    df = var * var / denom if denom > 0 else math.inf
    t = gap / se
    p = t_two_sided_p(t, df)
    half = t_critical(df, alpha) * se
    out["se"], out["df"], out["gap_over_se"], out["p_value"] = se, df, t, p
    out["ci95_low"], out["ci95_high"], out["beyond_noise"] = gap - half, gap + half, p < alpha
    return out


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm-adjusted p-values over one family (the grid's cells); None stays None and is not counted."""
    known = sorted(((p, k) for k, p in p_values.items() if p is not None), key=lambda x: x[0])
    m = len(known)
    out: dict[str, float | None] = {k: None for k in p_values}
    running = 0.0
    for i, (p, k) in enumerate(known):
        running = max(running, min(1.0, (m - i) * p))  # step-down: adjusted p never decreases
        out[k] = running
    return out


def coefficient_of_variation(values: Sequence[float | None]) -> float | None:
    m, s = mean_std(values)
    if m is None or s is None or m == 0:
        return None
    return s / abs(m)
