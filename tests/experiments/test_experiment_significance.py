"""Seed-noise statistics against a hand computation."""

import math

import pytest

from rephraser.experiments.significance import coefficient_of_variation, compare, holm, mean_std, pooled_std


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


def test_three_vs_three_seeds_at_t_2_45_is_p_0_07_and_within_noise():
    gap = 2.45 * math.sqrt(2 / 3)  # both sides: std 1 over 3 seeds, so SE = sqrt(2/3)
    r = compare([gap - 1, gap, gap + 1], [-1.0, 0.0, 1.0])
    assert r["gap_over_se"] == pytest.approx(2.45)
    assert r["df"] == pytest.approx(4)  # equal n and spread: Welch's df is the pooled test's n1 + n2 - 2
    assert r["p_value"] == pytest.approx(0.0704, abs=5e-4)
    assert r["beyond_noise"] is False
    half = 2.7764451 * r["se"]  # t_{0.975, 4}
    assert (r["ci95_low"], r["ci95_high"]) == pytest.approx((gap - half, gap + half))
    assert r["ci95_low"] < 0 < r["ci95_high"]  # the CI agrees: zero is inside


def test_welch_degrees_of_freedom_with_unequal_spreads():
    cell, base = [1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.1]  # s1^2 = 2.5 over 5, s2^2 = 0.005 over 2
    r = compare(cell, base)
    v1, v2 = 2.5 / 5, 0.005 / 2
    assert r["se"] == pytest.approx(math.sqrt(v1 + v2))
    assert r["df"] == pytest.approx((v1 + v2) ** 2 / (v1**2 / 4 + v2**2 / 1))
    assert r["p_value"] == pytest.approx(0.01384, abs=1e-5)  # scipy.stats.ttest_ind(..., equal_var=False)


def test_item_noise_widens_the_test():
    cell, base = [0.110, 0.111, 0.112], [0.100, 0.101, 0.102]
    seed_only = compare(cell, base)
    with_items = compare(cell, base, item_var=0.006**2)
    assert seed_only["beyond_noise"] is True and with_items["beyond_noise"] is False
    assert with_items["se"] == pytest.approx(math.hypot(seed_only["se"], 0.006))
    assert with_items["se_items"] == pytest.approx(0.006) and with_items["se_seed"] == pytest.approx(seed_only["se"])
    assert with_items["df"] > seed_only["df"]  # the item part enters as known, so df grows


def test_holm_steps_down_and_keeps_order():
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": None})
    assert adj["a"] == pytest.approx(0.03)  # 3 x 0.01
    assert adj["c"] == pytest.approx(0.06)  # 2 x 0.03
    assert adj["b"] == pytest.approx(0.06)  # 1 x 0.04 = 0.04, raised to keep the order
    assert adj["d"] is None
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_one_seed_on_a_side_is_not_tested():
    r = compare([0.2, 0.21, 0.19], [0.1])
    assert r["gap"] == pytest.approx(0.1) and r["p_value"] is None and r["beyond_noise"] is None
