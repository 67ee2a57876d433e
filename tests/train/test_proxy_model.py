"""Proxy model: shapes, presets, causality, document masking, exact checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from rephraser.errors import ConfigError, RephraserError
from rephraser.mix.tokenize import train_bpe
from rephraser.train.model import (
    PRESETS,
    ProxyConfig,
    ProxyModel,
    load_checkpoint,
    preset_config,
    save_checkpoint,
)


def _model(vocab_size: int = 300, **kw) -> ProxyModel:
    torch.manual_seed(0)
    cfg = ProxyConfig(vocab_size=vocab_size, hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=128,
                      max_seq_len=32, **kw)
    return ProxyModel(cfg).eval()


def test_forward_shape_and_dtype():
    m = _model()
    logits = m(torch.randint(0, 300, (3, 17)))
    assert logits.shape == (3, 17, 300) and logits.dtype == torch.float32
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, 33, dtype=torch.long))


def test_presets_sizes():
    tiny = ProxyModel(preset_config("tiny-1m"))
    assert 0.8e6 < tiny.num_parameters() < 1.3e6
    # the study's proxy, built on the meta device so no memory is allocated
    cfg = preset_config("1.7b", vocab_size=128_256, eos_id=128_001)
    assert (cfg.n_layers, cfg.hidden_size, cfg.n_heads, cfg.n_kv_heads, cfg.intermediate_size) == (28, 2048, 16, 8, 6144)
    assert (cfg.rope_theta, cfg.norm_eps, cfg.max_seq_len) == (10_000.0, 1e-6, 4096)
    assert cfg.tie_embeddings and cfg.document_masking
    with torch.device("meta"):
        big = ProxyModel(cfg)
        # the parameter count depends on the tokenizer: Llama-3.2's 128,256 tokens vs a 4,096-token BPE
        small_vocab = ProxyModel(preset_config("1.7b", vocab_size=4096, eos_id=0))
    assert big.num_parameters() == 1_672_071_168
    assert small_vocab.num_parameters() == 1_417_791_488
    with pytest.raises(ConfigError, match="eos_id"):
        ProxyModel(preset_config("1.7b", vocab_size=4096))
    assert set(PRESETS) >= {"tiny-1m", "1.7b"}
    with pytest.raises(ConfigError, match="unknown model preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="divisible"):
        ProxyConfig(hidden_size=64, n_heads=4, n_kv_heads=3)


def test_causal_future_tokens_do_not_leak():
    m = _model()
    x = torch.randint(1, 300, (1, 20))
    y = x.clone()
    y[0, 12:] = (y[0, 12:] + 7) % 300
    with torch.no_grad():
        a, b = m(x), m(y)
    assert torch.allclose(a[0, :12], b[0, :12], atol=1e-5)
    assert not torch.allclose(a[0, 12:], b[0, 12:], atol=1e-3)


def test_document_masking_blocks_attention_across_eos():
    masked, plain = _model(document_masking=True, eos_id=0), _model()
    x = torch.randint(1, 300, (1, 20))
    x[0, 8] = 0  # EOS closes the first document
    y = x.clone()
    y[0, :5] = (y[0, :5] + 11) % 299 + 1  # change only the first document
    with torch.no_grad():
        assert torch.allclose(masked(x)[0, 9:], masked(y)[0, 9:], atol=1e-5)
        assert not torch.allclose(plain(x)[0, 9:], plain(y)[0, 9:], atol=1e-3)
        # without any EOS the mask is plain causal attention
        z = torch.randint(1, 300, (2, 20))
        assert torch.allclose(masked(z), plain(z), atol=1e-5)


def test_checkpoint_round_trip_is_exact(tmp_path):
    tok = train_bpe(["a small corpus for a tokenizer"] * 5, vocab_size=300)
    tok.save(str(tmp_path / "tok.json"))
    # as training does: the model's vocabulary is the tokenizer's size (a tiny corpus stops BPE below 300)
    m = _model(vocab_size=tok.get_vocab_size(with_added_tokens=True))
    path = save_checkpoint(m, m.cfg, tmp_path / "tok.json", tmp_path / "ckpt")
    assert {p.name for p in path.iterdir()} == {"config.json", "model.pt", "tokenizer.json"}
    loaded, tokenizer, cfg = load_checkpoint(path)
    assert cfg == m.cfg and not loaded.training
    x = torch.randint(0, m.cfg.vocab_size, (2, 16))
    with torch.no_grad():
        assert torch.equal(m(x), loaded(x))
    assert tokenizer.encode("a small").ids == tok.encode("a small").ids
    (path / "model.pt").unlink()
    with pytest.raises(RephraserError, match="missing model.pt"):
        load_checkpoint(path)


def test_activation_checkpointing_recomputes_the_same_gradients():
    x = torch.randint(0, 300, (2, 32))
    grads = []
    for recompute in (False, True):
        m = _model(document_masking=True, eos_id=0).train()
        m.activation_checkpointing = recompute
        torch.nn.functional.cross_entropy(m(x[:, :-1]).reshape(-1, 300), x[:, 1:].reshape(-1)).backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    assert all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])
