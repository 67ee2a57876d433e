"""rephraser tune's sweep logic with a scripted trial (a real pilot run takes minutes: the CLI test is slow)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from rephraser.config import RunConfig
from rephraser.errors import ConfigError
from rephraser.scale import tune as tune_mod


def scripted(rates):
    """run_trial stand-in: tok/s from the settings; `rates(settings, role_index)`."""
    calls = []

    def run_trial(base, settings, timeout_s, workdir):
        calls.append(dict(settings))
        return tune_mod.Trial(dict(settings), rates(settings, len(calls)), 1.0)

    return run_trial, calls


def test_sweep_keeps_what_pays_and_writes_it_with_its_table(monkeypatch, tmp_path):
    def rates(s, n):
        r = 10.0 * (1.3 if s["speculative"] == "ngram" else 1.0) * (1.2 if s["parallel"] == 16 else 1.0)
        return r * (0.5 if s["cpu_wait"] == "libgomp" else 1.0)

    run_trial, calls = scripted(rates)
    monkeypatch.setattr(tune_mod, "run_trial", run_trial)
    cfg = RunConfig()
    result = tune_mod.tune(cfg, docs=2, max_tokens=16, budget_s=60)
    assert result.best["speculative"] == "ngram" and result.best["parallel"] == 16
    assert result.best["cpu_wait"] == "bounded" and result.ratio == pytest.approx(1.56)
    assert [t.role for t in result.trials[-4:]] == ["final-start", "final-best", "final-best", "final-start"]
    dest = tmp_path / "tuned.yaml"
    tune_mod.write_tuned(cfg, result, dest)
    text = dest.read_text()
    assert text.startswith("# rephraser tune") and '"cpu_wait": "libgomp"' in text
    tuned = RunConfig.model_validate(yaml.safe_load(text))
    assert (tuned.engine.speculative, tuned.engine.parallel) == ("ngram", 16)


def test_a_winner_that_loses_side_by_side_is_not_written(monkeypatch):
    # parallel 4 looks better in the sweep, but not when both run again (noise): the start stays
    run_trial, _ = scripted(lambda s, n: 12.0 if (s["parallel"] == 4 and n < 6) else 10.0)
    monkeypatch.setattr(tune_mod, "run_trial", run_trial)
    result = tune_mod.tune(RunConfig(), docs=2, max_tokens=16, budget_s=60, knobs=["parallel"])
    assert result.best == result.start and result.ratio is not None and result.ratio <= 1.0


def test_tune_refuses_other_engines_and_unknown_knobs():
    with pytest.raises(ConfigError, match="embedded engine"):
        tune_mod.pilot(RunConfig.model_validate({"engine": {"kind": "vllm", "model": "m"}}), 2, 16)
    with pytest.raises(ConfigError, match="unknown knob"):
        tune_mod.tune(RunConfig(), knobs=["warp"])


@pytest.mark.slow
@pytest.mark.model
def test_tune_cli_runs_real_pilots(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("prompts: [wikipedia_style_rephrasing]\nsampling: {temperature: 0.0, max_tokens: 16}\n"
                   f"output: {{dir: {tmp_path / 'unused'}}}\n")
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", "tune", "-c", str(cfg), "--docs", "2",
                        "--max-tokens", "8", "--knobs", "speculative"], capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    assert "tune: starting settings:" in p.stderr and "tok/s" in p.stderr
    assert (tmp_path / "run.tuned.yaml").read_text().startswith("# rephraser tune")


def test_a_chosen_knob_that_changes_outputs_is_named(monkeypatch, tmp_path):
    run_trial, _ = scripted(lambda s, n: 10.0 * (1.4 if s["kv_cache"] == "q8_0" else 1.0))
    monkeypatch.setattr(tune_mod, "run_trial", run_trial)
    result = tune_mod.tune(RunConfig(), docs=2, max_tokens=16, budget_s=60, knobs=["kv_cache", "parallel"])
    assert result.best["kv_cache"] == "q8_0" and result.output_changes() == ["kv_cache"]
    tune_mod.write_tuned(RunConfig(), result, tmp_path / "t.yaml")
    assert "# changes outputs (in the run's fingerprint): kv_cache" in (tmp_path / "t.yaml").read_text()
