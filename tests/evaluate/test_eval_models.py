"""Scoring real (tiny, random, locally built) models: proxy checkpoint, HF folder, and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from rephraser.errors import RephraserError
from rephraser.evaluate.bpb import bits_per_byte
from rephraser.evaluate.scoring_models import detect_kind, load_scoring_model
from rephraser.evaluate.suite import details_path, run_suite


def _check_scores(model):
    reqs = [("Question: Which planet? Answer:", " Mercury"), ("Question: Which planet? Answer:", " Venus"),
            ("", "The population of the city grew.")]
    out = model.score(reqs)
    assert len(out) == 3
    for (lp, ntok, nbytes), (_, cont) in zip(out, reqs, strict=True):
        assert math.isfinite(lp) and lp < 0 and ntok >= 1 and nbytes == len(cont.encode())
    # batching must not change a score: the same request alone gives the same number
    alone = model.score([reqs[1]])[0][0]
    assert alone == pytest.approx(out[1][0], abs=1e-3)


def test_proxy_checkpoint_scores(tiny_proxy_dir):
    assert detect_kind(tiny_proxy_dir) == "proxy"
    model = load_scoring_model(tiny_proxy_dir, device="cpu")
    _check_scores(model)
    # a random model over a ~320-token vocabulary: roughly ln(320)/ln 2 bits per token
    bpb = bits_per_byte(model, ["The team scored 23 points in the first quarter. " * 8])
    assert 0.5 < bpb["bpb"] < 20


def test_hf_folder_scores_with_tiny_random_llama(tiny_hf_dir):
    assert detect_kind(tiny_hf_dir) == "hf"
    model = load_scoring_model(tiny_hf_dir, device="cpu")
    _check_scores(model)
    results, details = run_suite(model, tasks=["arc_easy", "winogrande"], max_items=3)
    assert set(results["results"]) == {"arc_easy", "winogrande"}
    assert len(details) == 6


def test_detect_kind_rejects_other_folders(tmp_path):
    with pytest.raises(RephraserError):
        detect_kind(tmp_path)


def test_cli_quick_profile_on_tiny_proxy(tiny_proxy_dir, tmp_path):
    out = tmp_path / "res.json"
    proc = subprocess.run(
        [sys.executable, "-m", "rephraser.cli", "evaluate", str(tiny_proxy_dir), "--profile", "quick",
         "--max-items", "4", "--output", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["config_general"]["profile"] == "quick" and res["config_general"]["num_fewshot"] == 3
    assert len(res["results"]) + len(res["tasks_missing"]) == 12
    for task, r in res["results"].items():
        assert 0 < r["prob_norm_token"] < 1, task
        assert r["n_items"] == 4
    assert 0 < res["macro"] < 1 and 0 < res["micro"] < 1
    lines = details_path(out).read_text().splitlines()
    assert len(lines) == 4 * len(res["results"])


def test_cli_unknown_task_is_one_line_error(tiny_proxy_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "rephraser.cli", "evaluate", str(tiny_proxy_dir), "--tasks", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown task(s) nope")
    assert "Traceback" not in proc.stderr
