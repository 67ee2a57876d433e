"""One tiny grid cell through the real embedded SmolLM2 (llama.cpp): the path the mini ablation takes."""

import json

import pytest

from rephraser.config import validate
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.execute import run_grid


@pytest.mark.model
@pytest.mark.timeout(600)
def test_real_model_cell(tmp_path):
    cfg = validate({
        "name": "model",
        "prompts": ["summarize"],
        "generators": {"smollm2": {"engine": {"kind": "llamacpp", "model": "smollm2-135m", "n_ctx": 2048,
                                              "parallel": 3}}},
        "sources": {"wiki": {"source": {"path": None, "limit": 80}, "rephrase_docs": 3}},
        "generation": {"sampling": {"max_tokens": 48}, "postprocess": {"allow_length_finish": True}},
        "mix": {"ratios": [0.5], "tokens": 5000},
        "seeds": [0],
        "baselines": {},
        "tokenizer": {"vocab_size": 512},
        "train": {"preset": "tiny-1m", "steps": 2, "batch_size": 2, "seq_len": 64},
        "eval": {"tasks": ["table_qa_lookup"], "max_items": 3, "num_fewshot": 1, "heldout_docs": 5},
    }, ExperimentConfig)
    doc = run_grid(cfg, out=tmp_path / "out")
    (row,) = doc["rows"]
    assert row["cell"] == "summarize/mix50" and row["macro"] > 0 and row["heldout_bpb"] > 0
    gen = next((tmp_path / "out" / "stages" / "generate").glob("*/stats.json"))
    stats = json.loads(gen.read_text())
    assert stats["model"].startswith("SmolLM2-135M") and stats["rows"]["expected"] == 3
    assert doc["cells"][0]["gen_tokens"] is not None or stats["rows"]["ok"] == 0
