"""The Gopher repetition/quality rules on texts whose metrics can be computed by hand."""

from __future__ import annotations

import pytest

from rephraser.postprocess.quality import GopherThresholds, assess, gopher_metrics

PROSE = (
    "The river flows through the old town and past the mill. Farmers bring grain to the market every "
    "week, and the miller grinds it into flour that bakers use for bread. In winter the water freezes "
    "near the banks, so the mill works only part of the day. Children skate on the ice while their "
    "parents trade goods with merchants who have travelled from distant cities along the coast."
)


def test_clean_prose_passes():
    r = assess(PROSE)
    assert r.passed and r.failures == ()
    assert r.metrics["words"] == len(PROSE.split()) and r.metrics["stop_words"] >= 4


def test_duplicate_lines_and_paragraphs():
    text = "alpha beta\n\nalpha beta\n\ngamma delta\n\nalpha beta"
    m = gopher_metrics(text)
    assert m["dup_line_frac"] == 0.5 and m["dup_para_frac"] == 0.5  # 2 of 4 repeat an earlier one
    assert m["dup_line_char_frac"] == pytest.approx(20 / 41)
    assert {"dup_line_frac", "dup_para_frac", "min_words", "stop_words"} <= set(assess(text).failures)


def test_top_and_duplicate_ngram_fractions():
    words = ["aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh", "ii", "jj"]
    text = " ".join(words + words)  # the whole 10-word sequence repeated once
    m = gopher_metrics(text)
    assert m["top_ngram_2"] == pytest.approx(4 * 2 / 40)  # "aa bb" twice, 4 chars each time, of 40 chars
    assert m["dup_ngram_5"] == 1.0 and m["dup_ngram_10"] == 1.0  # every word lies in a repeated n-gram
    assert gopher_metrics(PROSE)["dup_ngram_5"] == 0.0


def test_symbols_bullets_ellipses_alpha():
    bullets = "\n".join(f"- item {i} ..." for i in range(10))
    m = gopher_metrics(bullets)
    assert m["bullet_lines"] == 1.0 and m["ellipsis_lines"] == 1.0
    assert m["symbol_word_ratio"] == pytest.approx(10 / 40)
    assert m["alpha_words"] == pytest.approx(10 / 40)  # only "item" has letters
    fails = set(assess(bullets).failures)
    assert {"bullet_lines", "ellipsis_lines", "symbol_word_ratio", "alpha_words"} <= fails


def test_thresholds_are_configurable_and_empty_text_is_safe():
    short = "the cat and the dog sat with me"
    assert "min_words" in assess(short).failures
    assert "min_words" not in assess(short, GopherThresholds(min_words=5)).failures
    r = assess("")
    assert not r.passed and r.metrics["words"] == 0
