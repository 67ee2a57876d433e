"""Faithfulness measures on hand-made examples, and the contract thresholds built on them."""

from __future__ import annotations

import pytest

from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.faithfulness import FaithfulnessSummary, measure, rule_of_reason
from rephraser.postprocess.stats import classify_reason
from rephraser.prompts.spec import PromptSpec

SOURCE = ("The Nile is a major north-flowing river in northeastern Africa. It is about 6,650 km long and "
          "flows through eleven countries, including Egypt and Sudan. The river was central to Ancient "
          "Egyptian civilisation.")


def test_numbers_absent_from_the_source_are_counted_once_each():
    out = ("Q1: How long is the Nile?\nA: About 6650 km, in 11 countries.\n\n"
           "1. It was described in 1923.\n2. Some say 1923 again, or 7.5 km.")
    f = measure(out, SOURCE)
    # 6650 = "6,650"; 11 = "eleven"; list markers "1." "2." and the label "Q1" are layout, not numbers.
    assert f.invented_numbers == ("7.5", "1923")
    assert f.columns()["invented_numbers"] == 2


def test_capitalised_spans_absent_from_the_source_are_invented_entities():
    out = ("Q: What is the Nile?\nA: The River Nile crosses Egypt, Sudan and Kenya.\n"
           "Question: Who wrote A Song of Rules?\nAnswer: Nobody.")
    f = measure(out, SOURCE)
    # "River Nile": both words occur in the source; "What", "The", Q/A labels are not entities.
    assert f.invented_entities == ("A Song of Rules", "Kenya")


def test_content_recall_and_novelty():
    copy = measure(SOURCE, SOURCE)
    assert copy.content_recall == 1.0
    assert copy.novelty_3gram == 0.0
    unrelated = measure("Bananas grow quickly in warm tropical gardens everywhere.", SOURCE)
    assert unrelated.content_recall == 0.0
    assert unrelated.novelty_3gram == 1.0
    half = measure("The Nile flows north. Bananas are yellow.", "The Nile flows north. Rivers carry water.")
    # source content words: nile, flow(s), north, river(s), carry, water -> nile, flow, north kept = 3/6
    assert half.content_recall == 0.5
    assert measure("", SOURCE).novelty_3gram is None
    assert measure("text here", "").content_recall is None


def _spec(**contract) -> PromptSpec:
    return PromptSpec(name="t", family="test", intent="x", template="Rewrite.\n{document}",
                      contract={"validator": None, **contract})


def test_thresholds_reject_with_the_rule_name_and_stats_recover_it():
    out = "The Nile is 6,650 km long; it was mapped in 1923 and 1931 by A Song of Rules."
    v = apply_contract(_spec(max_invented_numbers=1), out, source_text=SOURCE, finish_reason="stop")
    assert not v.ok and v.rule == "faithfulness:invented_numbers"
    assert v.reason.startswith("faithfulness: 2 invented numbers > max 1 (1923, 1931)")
    assert classify_reason(v.reason) == "faithfulness:invented_numbers"
    v = apply_contract(_spec(max_invented_entities=0), out, source_text=SOURCE, finish_reason="stop")
    assert v.rule == "faithfulness:invented_entities" and rule_of_reason(v.reason) == v.rule
    v = apply_contract(_spec(min_content_recall=0.9), out, source_text=SOURCE, finish_reason="stop")
    assert v.rule == "faithfulness:content_recall"
    assert classify_reason(v.reason) == "faithfulness:content_recall"
    ok = apply_contract(_spec(max_invented_numbers=2), out, source_text=SOURCE, finish_reason="stop")
    assert ok.ok and ok.faithfulness.columns()["invented_numbers"] == 2


def test_unset_thresholds_keep_the_prompt_hash():
    plain = _spec()
    assert "max_invented_numbers" not in plain.canonical() and "structure" not in plain.canonical()
    assert _spec(max_invented_numbers=1).hash != plain.hash


@pytest.mark.parametrize("rows,rate", [([{"invented_numbers": 0}, {"invented_numbers": 3}], 0.5), ([], None)])
def test_summary_rates(rows, rate):
    s = FaithfulnessSummary()
    for r in rows:
        s.add({"invented_entities": 0, "content_recall": 0.5, "novelty_3gram": 0.2, **r})
    out = s.finish()
    assert out.get("invented_number_rate") == rate
    if rows:
        assert out["mean_content_recall"] == 0.5 and out["mean_invented_numbers"] == 1.5
