"""Tiny, locally built models (never downloaded): a proxy checkpoint and a random HF Llama; Wikipedia
extracts for the study tokenizer's test."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import wiki_texts

CORPUS = [
    "Question: Which planet is closest to the sun? Answer: Mercury.",
    "The population of the city grew to 52,000 people in 1950.",
    "| City | Population | Area |\n|---|---|---|\n| Vinmol | 12,000 | 45 |",
    "Passage: The team scored 23 points in the first quarter.",
] * 20


def train_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.save(str(path))
    return path


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Some evaluation harnesses switch autograd off process-wide (the lm-eval and lighteval cross-checks
    run them in-process); put it back so a later in-process training test still computes gradients."""
    import torch

    enabled = torch.is_grad_enabled()
    yield
    torch.set_grad_enabled(enabled)


@pytest.fixture(scope="session")
def tiny_proxy_dir(tmp_path_factory) -> Path:
    import torch

    from rephraser.train.model import ProxyConfig, ProxyModel, save_checkpoint

    root = tmp_path_factory.mktemp("proxy")
    tok_path = train_tokenizer(root / "tok.json")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_path))
    cfg = ProxyConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, max_seq_len=128, eos_id=tok.token_to_id("<|endoftext|>"))
    torch.manual_seed(0)
    return save_checkpoint(ProxyModel(cfg), cfg, tok_path, root / "ckpt")


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("hf")
    tok_path = train_tokenizer(root / "tok.json")
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_path), bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    out = root / "model"
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def tok_json(tmp_path) -> Path:
    """A freshly trained 320-token byte-level BPE (tokenizer.json) in this test's folder."""
    return train_tokenizer(tmp_path / "tok.json")


@pytest.fixture
def wiki_sample():
    """wiki_sample(n): the first n embedded Wikipedia extracts."""
    return wiki_texts
