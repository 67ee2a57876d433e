"""The two guesses behind the progress line's ETA: output tokens per unit, and the decode rate to come.

Both are needed before a run has finished much (measured by bench/bench_progress_eta.py on the quickstart's
job: the old figures, max_tokens per unit until a unit finished and the finished units' mean after it,
put the ETA at 1.7-3x the truth in the first 10 s of decoding and at about 0.5x once the first units had
finished, because short outputs finish first).
"""

from __future__ import annotations

MIN_SPREAD_ROWS = 0.5  # occupancy std (rows) below which a slope of step time over rows is noise


def tokens_per_unit(finished_tokens: int, running_tokens: int, finished_units: int, running_units: int,
                    max_tokens: int) -> float:
    """Output tokens a unit will take: midway between a low and a high estimate that meet at the true mean
    when the last unit ends.

    low: every token so far over every unit started (finished or still running). A true lower bound of the
    started units' mean, since running units only add tokens.
    high: every token so far over the finished units only (each running unit's tokens charged to the finished
    ones: the mean a memoryless length would give), never above max_tokens; max_tokens itself before any unit
    has finished, the one thing known then.
    The finished units' own mean, the obvious choice, errs short for most of a run: short outputs finish first."""
    spent = finished_tokens + running_tokens
    started = finished_units + running_units
    low = spent / started if started else 0.0
    high = min(float(max_tokens), spent / finished_units) if finished_units else float(max_tokens)
    return (low + max(low, high)) / 2


class StepTimes:
    """Seconds per generation step as a line in the sequences it carries, t = a + b·rows, fitted by least
    squares (weighted by steps) over the intervals between readings of the engine's cumulative counters.

    It corrects the measured decode rate for the batch's occupancy: early in a run few sequences decode while
    the others' prompts are still prefilled, and where a step has a fixed cost (threads meeting at barriers on
    a busy CPU, a GPU) those steps give fewer tokens per second than the full batch will. Only the ratio of
    the fitted speeds is used, so the measured rate keeps its level: rate · speed(to come) / speed(so far)."""

    def __init__(self) -> None:
        self._last: tuple[int, int, float] | None = None
        self._sums = [0.0] * 5  # Σw, Σw·x, Σw·y, Σw·x², Σw·x·y (x: rows per step, y: seconds per step, w: steps)

    def add(self, steps: int, rows: int, seconds: float) -> None:
        if self._last is not None:
            n, r, t = steps - self._last[0], rows - self._last[1], seconds - self._last[2]
            if n <= 0 or t <= 0:
                return  # no step ended since the last reading: keep it as the interval's start
            x, y = r / n, t / n
            for i, v in enumerate((n, n * x, n * y, n * x * x, n * x * y)):
                self._sums[i] += v
        self._last = (steps, rows, seconds)

    def speedup(self, rows_past: float, rows_to_come: float) -> float:
        """Tokens per second at rows_to_come sequences per step over those at rows_past (1.0 while the fit
        is not determined: too little spread in occupancy, or a slope that says nothing sane)."""
        w, sx, sy, sxx, sxy = self._sums
        if w <= 0 or rows_past <= 0 or sxx / w - (sx / w) ** 2 < MIN_SPREAD_ROWS**2:
            return 1.0
        b = (w * sxy - sx * sy) / (w * sxx - sx * sx)
        a = (sy - b * sx) / w
        past, to_come = a + b * rows_past, a + b * rows_to_come
        if b < 0 or past <= 0 or to_come <= 0:
            return 1.0
        return (rows_to_come / to_come) / (rows_past / past)
