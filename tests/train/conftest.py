"""Fixtures for proxy training tests: a small tokenized corpus of real Wikipedia lead extracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rephraser.mix.tokenize import tokenize_texts, train_bpe


def wiki_texts(n: int) -> list[str]:
    from rephraser.sources.wiki import wiki_data_path

    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    return [data[k]["extract"] for k in sorted(data)[:n] if data[k].get("extract")]


@pytest.fixture
def wiki_sample():
    """wiki_sample(n): the first n embedded Wikipedia extracts."""
    return wiki_texts


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """~400 wiki extracts tokenized with a 512-token BPE (≈80k tokens), 5% held out."""
    texts = wiki_texts(400)
    out = tmp_path_factory.mktemp("tokens")
    tokenize_texts(texts, out, train_bpe(texts, vocab_size=512), "test-bpe-512", heldout_fraction=0.05)
    return out


# A model small enough that a few dozen steps take a few seconds on 2 busy cores.
MICRO = dict(hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=160)


@pytest.fixture
def micro_model_overrides() -> dict:
    return dict(MICRO)
