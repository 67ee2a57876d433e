"""Soft steering (engines/steering.py): the source bias and the context-aware contrast, on a small
hand-made vocabulary (the real-model path is covered in test_llamacpp_steering.py)."""

from __future__ import annotations

import numpy as np

from rephraser.engines.steering import BONUS, PENALTY, VocabIndex, contrast, log_softmax, source_bias

PIECES = [" Paris", " London", " What", " the", " river", "Par", " Lond", " Nile", "!", " Égypte", " Berlin"]


def tokenize(text: str) -> list[int]:
    # first piece whose text starts the word: enough for a fake tokenizer
    return [i for i, p in enumerate(PIECES) if text.strip() and p.strip() and text.strip().startswith(p.strip())][:1]


def test_capitalised_words_absent_from_the_source_are_penalised():
    bias = source_bias(VocabIndex(PIECES), "Paris lies on a river; the Nile is in Égypte.", tokenize)
    by = dict(zip(PIECES, bias.tolist(), strict=True))
    assert by[" London"] == -PENALTY and by[" Lond"] == -PENALTY and by[" Berlin"] == -PENALTY
    assert by[" What"] == 0.0  # a common sentence opener
    assert by[" Paris"] == BONUS and by[" Nile"] == BONUS and by[" Égypte"] == BONUS
    assert by["Par"] == 0.0  # a prefix of a source word is not penalised
    assert by["!"] == 0.0


def test_contrast_favours_what_the_source_makes_likely():
    with_src = np.array([2.0, 2.0, 0.0, -9.0], dtype=np.float32)
    without = np.array([3.0, 0.0, 0.0, -20.0], dtype=np.float32)  # token 0 is likely with or without the source
    out = contrast(with_src, without, alpha=1.0)
    assert out[1] > out[0]  # the source-specific token wins the tie
    assert out[3] == -np.inf  # implausible under the source: dropped, however unlikely without it
    assert np.allclose(contrast(with_src, without, 0.0)[:3], log_softmax(with_src)[:3], atol=1e-5)


def test_plausibility_is_judged_among_the_tokens_a_structure_allows():
    with_src = np.array([5.0, 0.0, -1.0, -30.0], dtype=np.float32)  # the favourite (0) is forbidden below
    without = np.zeros(4, dtype=np.float32)
    allowed = np.array([False, True, True, False])
    out = contrast(with_src, without, 1.0, allowed)
    assert np.isfinite(out[1]) and np.isfinite(out[2])  # 1 and 2 are within 10x of the best allowed token
    assert out[3] == -np.inf
    assert np.isinf(contrast(with_src, without, 1.0)[1:]).all()  # without the mask only token 0 survives

