"""Every bad `rephraser evaluate` option is one line, and said before any model is loaded.

The model folder given here does not exist: loading it would fail with "model folder not found", so an
error naming the option proves the option was checked first.
"""

from __future__ import annotations

import pytest

from helpers import cli

MISSING_MODEL = "/nonexistent/model-folder"


@pytest.mark.parametrize(("args", "says"), [
    (["--definitions", "helm"], "unknown definitions 'helm'; choose from rephraser, lighteval"),
    (["--prob-variant", "best"], "unknown prob_norm_token variant 'best'; choose from gold, all"),
    (["--tasks", "arc_easy,mmlu_pro"], "unknown task(s) mmlu_pro; known: arc_easy"),
    (["--definitions", "lighteval", "--datasets", "/no/such/place"], "--datasets '/no/such/place' is neither"),
    (["--datasets", "hub"], "--datasets: the study's real datasets are scored with --definitions lighteval"),
    (["--profile", "huge"], "unknown --profile 'huge'; choose from quick, full, study"),
    (["--dtype", "fp8"], "unknown --dtype 'fp8'; choose from auto, float32, bfloat16"),
])
def test_bad_option_fails_in_one_line_before_the_model_loads(args: list[str], says: str) -> None:
    p = cli("evaluate", MISSING_MODEL, *args, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    err = p.stderr.strip()
    assert err.startswith("error: ") and says in err and "\n" not in err and "model folder" not in err


def test_a_grid_with_a_bad_eval_option_stops_at_load(tmp_path) -> None:
    """A grid's eval tasks are checked when its YAML loads, not after hours of generation and training."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: g\noutput: out\nprompts: [faq]\ngenerators: {g: {engine: {kind: llamacpp}}}\n"
                    "sources: {wiki: {source: {path: null, limit: 10}, rephrase_docs: 2}}\n"
                    "eval: {tasks: [arc_easy, mmlu_pro]}\n")
    p = cli("experiment", "run", str(grid), "--dry-run", check=False)
    err = p.stderr.strip()
    assert p.returncode == 2 and "unknown task(s) mmlu_pro" in err and "\n" not in err, p.stdout + p.stderr
