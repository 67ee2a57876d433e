"""Cross-check with lm-evaluation-harness: its HFLM scores our exact ARC-Easy contexts and choices on an
exported tiny proxy (offline), and its log-likelihoods and token-normalised probabilities equal ours."""

from __future__ import annotations

import math

import pytest

from helpers import crosscheck_import

# skipped where lm-eval is missing, a failure in CI (REPHRASER_REQUIRE_CROSSCHECK=1, helpers.crosscheck_import)
crosscheck_import("lm_eval")
crosscheck_import("transformers")

ITEMS = 4


def test_lm_eval_log_likelihoods_equal_ours(tiny_proxy_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from rephraser.evaluate.export_hf import export_hf
    from rephraser.evaluate.score import score_items
    from rephraser.evaluate.scoring_models import load_scoring_model
    from rephraser.evaluate.tasks import load_task

    out = export_hf(tiny_proxy_dir, tmp_path / "hf")["output"]
    items = load_task("arc_easy", ITEMS, 1234, 3).items
    requests = [r for it in items for r in it.requests()]
    instances = [Instance(request_type="loglikelihood", doc={}, arguments=req, idx=i) for i, req in enumerate(requests)]
    theirs = HFLM(pretrained=out, device="cpu", batch_size=4).loglikelihood(instances, disable_tqdm=True)
    checkpoint = load_scoring_model(tiny_proxy_dir, device="cpu")
    for model in (checkpoint, load_scoring_model(out, kind="hf", device="cpu"), checkpoint.with_tokenization("lighteval")):
        ours = model.score(requests)
        for (lp, _, _), (their_lp, _) in zip(ours, theirs, strict=True):
            assert lp == pytest.approx(their_lp, abs=1e-4)
    # and the per-item metric built on them: prob_norm_token from lm-eval's numbers and our token counts
    results = score_items(checkpoint, items)
    pos = 0
    for it, res in zip(items, results, strict=True):
        lps = [theirs[pos + i][0] for i in range(len(it.choices))]
        pos += len(it.choices)
        want = math.exp(lps[it.gold] / res.n_tokens[it.gold])
        assert res.prob_norm_token == pytest.approx(want, rel=1e-4)
