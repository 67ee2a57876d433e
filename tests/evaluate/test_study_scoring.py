"""The study's scoring settings: |3|1 few-shot truncation, bf16 weights, and a tokenizer that fits its model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rephraser.errors import RephraserError
from rephraser.evaluate.fewshot_fit import fit_fewshot
from rephraser.evaluate.scoring_models import load_scoring_model, resolve_dtype
from rephraser.evaluate.suite import run_suite
from rephraser.evaluate.tasks.study_load import load_study_task


def test_truncation_drops_shots_from_the_end_until_the_item_fits(tiny_proxy_dir: Path) -> None:
    model = load_scoring_model(tiny_proxy_dir).with_tokenization("lighteval")  # a 128-token window
    items = load_study_task("arc_easy", 12, 1234, 3).items
    fitted, cut = fit_fewshot(items, model)
    assert cut > 0  # 3 ARC shots do not fit 128 byte-level tokens
    for before, after in zip(items, fitted, strict=True):
        kept = len(after.fewshot)
        assert after.fewshot == before.fewshot[:kept]  # the first shots stay, the last go
        assert after.queries == before.queries and after.choices == before.choices
        if kept < len(before.fewshot):  # it dropped exactly as many as it had to
            assert kept == 0 or model.fits(after.requests())
            assert not model.fits(before.__class__(**{**before.__dict__, "fewshot": before.fewshot[:kept + 1]}).requests())
        else:
            assert model.fits(before.requests())


def test_lighteval_definitions_truncate_by_default_and_say_so(tiny_proxy_dir: Path) -> None:
    model = load_scoring_model(tiny_proxy_dir)
    on, _ = run_suite(model, definitions="lighteval", tasks=["arc_easy"], max_items=6)
    off, _ = run_suite(model, definitions="lighteval", tasks=["arc_easy"], max_items=6, truncate_fewshot=False)
    assert on["config_general"]["fewshot_truncation"].endswith("(|3|1)") and off["config_general"]["fewshot_truncation"] == "off"
    assert on["task_info"]["arc_easy"]["items_with_fewer_shots"] > 0
    assert on["results"]["arc_easy"]["prob_norm_token"] != off["results"]["arc_easy"]["prob_norm_token"]
    ours, _ = run_suite(model, tasks=["arc_easy"], max_items=6)  # the rephraser definitions: unchanged, no cut
    assert ours["config_general"]["fewshot_truncation"] == "off"


def test_bf16_scoring_is_an_option_and_auto_picks_it_only_for_the_study_on_a_bf16_device(tiny_proxy_dir: Path) -> None:
    assert resolve_dtype("auto", "study", "cpu") == "float32"  # CPU: fp32 (bf16 there is emulated and rounds otherwise)
    assert resolve_dtype("auto", "full", "cuda") == "float32"
    assert resolve_dtype("bfloat16", "quick", "cpu") == "bfloat16"
    with pytest.raises(RephraserError, match="unknown --dtype 'fp8'"):
        resolve_dtype("fp8", "quick", "cpu")
    fp32 = load_scoring_model(tiny_proxy_dir)
    bf16 = load_scoring_model(tiny_proxy_dir, dtype="bfloat16")
    r32, _ = run_suite(fp32, tasks=["arc_easy"], max_items=5)
    r16, _ = run_suite(bf16, tasks=["arc_easy"], max_items=5)
    assert r16["config_general"]["dtype"] == "bfloat16" and r32["config_general"]["dtype"] == "float32"
    a, b = r32["results"]["arc_easy"]["prob_norm_token"], r16["results"]["arc_easy"]["prob_norm_token"]
    assert a != b and b == pytest.approx(a, rel=0.05)  # bf16 rounds: close to fp32, not equal


def test_a_tokenizer_that_does_not_fit_the_model_is_one_line(tiny_proxy_dir: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    for extra in (["<|a|>", "<|b|>"], None):  # larger than the model's vocabulary; then smaller
        ckpt = tmp_path / f"ckpt-{bool(extra)}"
        shutil.copytree(tiny_proxy_dir, ckpt)
        if extra:
            tok = Tokenizer.from_file(str(ckpt / "tokenizer.json"))
            tok.add_special_tokens(extra)
            tok.save(str(ckpt / "tokenizer.json"))
        else:
            cfg = json.loads((ckpt / "config.json").read_text())
            (ckpt / "config.json").write_text(json.dumps({**cfg, "vocab_size": cfg["vocab_size"] + 7}))
        with pytest.raises(RephraserError, match="not the one the model was trained with") as e:
            load_scoring_model(ckpt)
        assert "\n" not in str(e.value)
