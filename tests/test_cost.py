"""cost.py: unit conversions against the study's own numbers, and pilot/reference projections."""

from __future__ import annotations

import math

import pytest

from rephraser import cost


def test_hours_per_billion_matches_definition():
    # 1e9 tokens at 1e6 tok/s = 1000 s
    assert cost.hours_per_billion(1e6) == pytest.approx(1000 / 3600)
    assert cost.hours_per_billion(0) == math.inf
    assert cost.hours_per_billion(float("nan")) == math.inf


def test_finephrase_rate_is_about_33m_tokens_per_gpu_hour_and_30x_rewire():
    rate = cost.FINEPHRASE_TOKENS_PER_GPU_HOUR
    assert rate == pytest.approx(33.06e6, rel=0.01)
    assert rate / cost.REWIRE_TOKENS_PER_GPU_HOUR == pytest.approx(30, rel=0.02)


def test_reference_table_lookup():
    assert cost.reference("SmolLM2-1.7B").output_tok_per_s == 9200
    assert cost.reference("smollm2-1.7b-instruct").output_tok_per_s == 9200
    assert cost.reference("SmolLM2-1.7B-untuned").output_tok_per_s == 5300
    assert cost.reference("Gemma-3-27B").output_tok_per_s == 1700
    with pytest.raises(KeyError, match="known: SmolLM2-135M"):
        cost.reference("gpt-5")


def test_reference_projection_of_finephrase_scale():
    # 486B tokens at SmolLM2-1.7B's tuned 9.2k tok/s: ~14.7k GPU-hours (the study's figure)
    units = int(486e9 / 359)
    p = cost.project_from_reference("SmolLM2-1.7B", units, price_per_hour=2.0, devices=100)
    assert p.output_tokens == pytest.approx(486e9, rel=1e-6)
    assert p.device_hours == pytest.approx(14.7e3, rel=0.01)
    assert p.wall_hours == pytest.approx(p.device_hours / 100)
    assert p.cost == pytest.approx(p.device_hours * 2.0)
    assert p.cost_per_billion == pytest.approx(1e9 / 9200 / 3600 * 2.0)


def test_reference_projection_to_a_token_target():
    p = cost.project_from_reference("Gemma-3-1B", 1000, output_tokens_per_unit=400, keep_rate=0.5,
                                    target_tokens=1e9)
    assert p.target_units == math.ceil(1e9 / 200)
    # every unit generates 400 tokens (kept or not) at 16.8k tok/s
    assert p.target_device_hours == pytest.approx(p.target_units * 400 / 16800 / 3600)


def pilot(**kw):
    base = dict(units=20, units_ok=18, input_tokens=4000, output_tokens=2000, output_tokens_ok=1800,
                wall_s=3.0, startup_s=1.0, window=8)
    base.update(kw)
    return cost.PilotMeasurement(**base)


def test_pilot_round_model():
    p = pilot()  # 20 units over 8 slots = 3 rounds in 2 s
    assert p.round_s == pytest.approx(2.0 / 3)
    assert p.steady_output_tok_per_s == pytest.approx(8 * 100 / (2.0 / 3))
    proj = cost.project_from_pilot(p, 200, price_per_hour=3.0)
    assert proj.wall_hours * 3600 == pytest.approx(1.0 + 25 * 2.0 / 3)  # ceil(200/8) = 25 rounds
    assert proj.output_tokens == pytest.approx(20_000)
    assert proj.output_tokens_kept == pytest.approx(18_000)
    assert proj.keep_rate == pytest.approx(0.9)
    assert proj.cost == pytest.approx(proj.device_hours * 3.0)
    assert proj.notes == []


def test_pilot_projection_splits_over_devices_and_reaches_target():
    proj = cost.project_from_pilot(pilot(), 800, devices=4, target_tokens=9000)
    assert proj.wall_hours * 3600 == pytest.approx(1.0 + 25 * 2.0 / 3)  # 200 units per device
    assert proj.device_hours == pytest.approx(proj.wall_hours * 4)
    assert proj.target_units == 100  # 90 kept tokens per unit
    assert proj.target_device_hours * 3600 == pytest.approx(100 * (2.0 / 3) / 8)


def test_small_pilot_is_flagged_and_bad_pilots_rejected():
    assert cost.project_from_pilot(pilot(units=4, units_ok=4), 100).notes
    with pytest.raises(ValueError, match="no request"):
        pilot(units=0)
    with pytest.raises(ValueError, match="inconsistent"):
        pilot(startup_s=5.0)
    nothing_kept = cost.project_from_pilot(pilot(units_ok=0, output_tokens_ok=0), 100, target_tokens=1e6)
    assert nothing_kept.target_units is None and nothing_kept.notes
