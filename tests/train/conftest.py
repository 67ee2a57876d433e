"""Proxy training tests: the tokenized corpus `tiny_corpus` is shared (tests/conftest.py)."""

from __future__ import annotations

import pytest

# A model small enough that a few dozen steps take a few seconds on 2 busy cores.
MICRO = dict(hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=160)


@pytest.fixture
def micro_model_overrides() -> dict:
    return dict(MICRO)
