"""The ETA's two guesses: tokens per unit (between a low and a high estimate) and the occupancy correction."""

from __future__ import annotations

import pytest

from rephraser.generate.eta import StepTimes, tokens_per_unit


def test_before_any_unit_finishes_tokens_per_unit_is_midway_between_what_runs_and_max_tokens():
    # 8 calls running with 60 tokens each so far, max_tokens 512: low 60, high 512
    assert tokens_per_unit(0, 480, 0, 8, 512) == pytest.approx(286)
    assert tokens_per_unit(0, 0, 0, 0, 512) == pytest.approx(256)  # nothing known yet: half of max_tokens


def test_short_first_finishers_do_not_pull_the_estimate_down_to_their_own_mean():
    """2 units finished with 90 tokens each (short ones finish first), 8 still running at 150 each: the
    finished mean (90) would err short; low = 1380/10 = 138, high = 1380/2 = 690 -> 512 (max_tokens)."""
    assert tokens_per_unit(180, 1200, 2, 8, 512) == pytest.approx((138 + 512) / 2)
    # later, many finished: the two estimates close in (low 190, high 237.5)
    assert tokens_per_unit(3800, 950, 20, 5, 512) == pytest.approx((190 + 237.5) / 2)


def test_when_nothing_runs_any_more_the_estimate_is_the_true_mean():
    assert tokens_per_unit(6745, 0, 32, 0, 512) == pytest.approx(6745 / 32)


def test_units_longer_than_max_tokens_in_total_keep_the_low_bound():
    # retries make a unit cost several calls: the low estimate may pass max_tokens; never go under it
    assert tokens_per_unit(3000, 0, 4, 0, 512) == pytest.approx(750)


def feed(fit: StepTimes, a: float, b: float, occupancy: list[int], steps_each: int = 5) -> None:
    """Readings of cumulative counters after intervals of steps_each steps at each occupancy."""
    steps = rows = 0
    seconds = 0.0
    fit.add(steps, rows, seconds)
    for r in occupancy:
        steps, rows, seconds = steps + steps_each, rows + r * steps_each, seconds + steps_each * (a + b * r)
        fit.add(steps, rows, seconds)


def test_a_fixed_cost_per_step_makes_the_full_batch_faster_per_token():
    """Steps of 0.1 s + 0.01 s a row, seen at 2-5 rows so far (mean 3.5): 8 rows will give
    8/0.18 = 44.4 tok/s against 3.5/0.135 = 25.9, a 1.71x speed-up."""
    fit = StepTimes()
    feed(fit, 0.1, 0.01, [2, 3, 4, 5])
    assert fit.speedup(3.5, 8) == pytest.approx((8 / 0.18) / (3.5 / 0.135))
    assert fit.speedup(3.5, 1) < 1  # the last unit alone in the batch: slower per token


def test_a_step_time_proportional_to_rows_needs_no_correction():
    fit = StepTimes()
    feed(fit, 0.0, 0.015, [1, 3, 5, 8, 8])
    assert fit.speedup(5.0, 8) == pytest.approx(1.0)


def test_no_spread_in_occupancy_or_no_sane_slope_gives_no_correction():
    fit = StepTimes()
    feed(fit, 0.1, 0.01, [8, 8, 8, 8])  # a full batch only: the slope is unknown
    assert fit.speedup(8.0, 8) == 1.0
    fit = StepTimes()
    feed(fit, 0.3, -0.02, [1, 4, 8])  # bigger steps faster: noise, not a model
    assert fit.speedup(4.3, 8) == 1.0
    assert StepTimes().speedup(3.0, 8) == 1.0  # nothing read yet


def test_readings_without_a_finished_step_wait_for_the_next_one():
    fit = StepTimes()
    fit.add(0, 0, 0.0)
    fit.add(0, 0, 0.0)  # a reading between steps: nothing to learn, the interval goes on
    fit.add(5, 10, 5 * 0.12)
    fit.add(10, 40, 5 * 0.12 + 5 * 0.18)
    # two intervals, rows 2 and 6, 0.12 and 0.18 s per step: a = 0.09, b = 0.015
    assert fit.speedup(4.0, 8) == pytest.approx((8 / 0.21) / (4 / 0.15))
