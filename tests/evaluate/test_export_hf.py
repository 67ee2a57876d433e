"""`rephraser export-hf`: a proxy checkpoint becomes a transformers LlamaForCausalLM folder that
loads offline, gives the same logits (max abs difference below 1e-5 in float32) and the same benchmark
scores as the checkpoint itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rephraser.errors import RephraserError

pytest.importorskip("transformers")

LOGIT_TOLERANCE = 1e-5  # float32; measured ≈2e-7 (RoPE tables are built in float64 by us, float32 by HF)


def _proxy(tmp_path, tok_path, **overrides):
    import torch
    from tokenizers import Tokenizer

    from rephraser.train.model import ProxyConfig, ProxyModel, save_checkpoint

    tok = Tokenizer.from_file(str(tok_path))
    shape = dict(hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=64, max_seq_len=64)
    cfg = ProxyConfig(vocab_size=tok.get_vocab_size(), eos_id=tok.token_to_id("<|endoftext|>"), **{**shape, **overrides})
    torch.manual_seed(1)
    model = ProxyModel(cfg)
    with torch.no_grad():  # norms away from 1 so a mis-mapped norm weight would show
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    return save_checkpoint(model, cfg, tok_path, tmp_path / "ckpt")


@pytest.mark.parametrize("overrides", [dict(), dict(tie_embeddings=False, rope_theta=500_000.0, n_kv_heads=1)])
def test_export_gives_identical_logits(tmp_path, tok_json, overrides):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rephraser.evaluate.export_hf import export_hf
    from rephraser.train.model import load_checkpoint

    ckpt = _proxy(tmp_path, tok_json, **overrides)
    summary = export_hf(ckpt, tmp_path / "hf")
    assert summary["architecture"] == "LlamaForCausalLM"
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf", local_files_only=True)
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert tok.bos_token == tok.eos_token == "<|endoftext|>"
    ours, train_tok, _ = load_checkpoint(ckpt)
    text = "Question: Which planet is closest to the sun? Answer: Mercury. The team scored 23 points."
    ids = tok(text)["input_ids"]  # transformers' default encoding = the training encoding
    assert ids == train_tok.encode(text, add_special_tokens=False).ids
    x = torch.tensor([ids, ids[::-1]])
    with torch.no_grad():
        diff = (ours(x) - hf(input_ids=x).logits).abs().max().item()
    assert diff < LOGIT_TOLERANCE
    cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert cfg["attention_bias"] is False and cfg["mlp_bias"] is False
    assert cfg["tie_word_embeddings"] is overrides.get("tie_embeddings", True)


def test_export_refuses_a_non_empty_folder_and_leaves_no_temp(tmp_path, tiny_proxy_dir):
    from rephraser.evaluate.export_hf import export_hf

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(RephraserError, match="not empty"):
        export_hf(tiny_proxy_dir, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_export_drops_a_bos_post_processor(tmp_path, tok_json):
    from tokenizers import Tokenizer, processors
    from transformers import AutoTokenizer

    from rephraser.evaluate.export_hf import export_hf

    tok = Tokenizer.from_file(str(tok_json))
    eos = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", eos)])
    tok.save(str(tmp_path / "bos_tok.json"))
    ckpt = _proxy(tmp_path, tmp_path / "bos_tok.json", document_masking=True)
    summary = export_hf(ckpt, tmp_path / "hf")
    assert summary["dropped_tokenizer_post_processor"] and summary["document_masking"]
    hf_tok = AutoTokenizer.from_pretrained(tmp_path / "hf", local_files_only=True)
    assert hf_tok("The team scored")["input_ids"] == tok.encode("The team scored", add_special_tokens=False).ids


def test_evaluate_hf_export_matches_the_checkpoint(tmp_path, tiny_proxy_dir):
    """`rephraser evaluate OUT --hf` gives the checkpoint's scores, item by item."""
    from rephraser.evaluate.export_hf import export_hf
    from rephraser.evaluate.scoring_models import load_scoring_model
    from rephraser.evaluate.suite import run_suite

    out = export_hf(tiny_proxy_dir, tmp_path / "hf")["output"]
    tasks = ["arc_easy", "winogrande", "gsm8k"]
    ckpt_res, ckpt_items = run_suite(load_scoring_model(tiny_proxy_dir, device="cpu"), tasks=tasks, max_items=4)
    res = tmp_path / "hf.json"
    proc = subprocess.run([sys.executable, "-m", "rephraser.cli", "evaluate", out, "--hf", "--device", "cpu",
                           "--tasks", ",".join(tasks), "--max-items", "4", "--output", str(res)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    hf_res = json.loads(res.read_text())
    hf_items = [json.loads(line) for line in res.with_name("hf.details.jsonl").read_text().splitlines()]
    assert [d["id"] for d in ckpt_items] == [d["id"] for d in hf_items]
    for a, b in zip(ckpt_items, hf_items, strict=True):
        assert a["n_tokens"] == b["n_tokens"]
        assert a["logprobs"] == pytest.approx(b["logprobs"], abs=1e-4)
    assert hf_res["macro"] == pytest.approx(ckpt_res["macro"], abs=1e-6)
