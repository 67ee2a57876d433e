"""Seed-noise statistics against a hand computation."""

import math

import pytest

from rephraser.experiments.significance import coefficient_of_variation, compare, mean_std, pooled_std


def test_mean_std_is_the_sample_std():
    m, s = mean_std([0.10, 0.12, 0.14])
    assert m == pytest.approx(0.12)
    assert s == pytest.approx(0.02)  # sqrt(((-.02)^2 + 0 + .02^2) / 2)
    assert mean_std([0.3]) == (0.3, None)
    assert mean_std([]) == (None, None)


def test_compare_matches_hand_computation():
    cell = [0.150, 0.152, 0.154]  # mean .152, s = .002
    base = [0.140, 0.141, 0.145]  # mean .142, s = sqrt((4+1+9)e-6 / 2) = sqrt(7e-6)
    r = compare(cell, base)
    sp = math.sqrt((2 * 0.002**2 + 2 * 7e-6) / 4)
    se = sp * math.sqrt(2 / 3)
    assert r["gap"] == pytest.approx(0.010)
    assert r["pooled_std"] == pytest.approx(sp)
    assert r["se"] == pytest.approx(se)
    assert r["gap_over_se"] == pytest.approx(0.010 / se)
    assert r["cohens_d"] == pytest.approx(0.010 / sp)
    assert r["n"] == 3 and r["n_baseline"] == 3


def test_unequal_seed_counts_pool_by_degrees_of_freedom():
    assert pooled_std(0.3, 4, 0.1, 2) == pytest.approx(math.sqrt((3 * 0.09 + 1 * 0.01) / 4))


def test_undefined_values_are_none_not_invented():
    one_each = compare([0.2], [0.1])
    assert one_each["gap"] == pytest.approx(0.1) and one_each["pooled_std"] is None and one_each["cohens_d"] is None
    no_noise = compare([0.2, 0.2], [0.1, 0.1])
    assert no_noise["pooled_std"] == 0 and no_noise["gap_over_se"] is None
    assert compare([], [0.1])["gap"] is None
    assert coefficient_of_variation([0.1, 0.1]) == 0
    assert coefficient_of_variation([0.5]) is None
