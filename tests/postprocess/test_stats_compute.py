"""compute_stats on synthetic run folders with hand-computed expected numbers."""

from __future__ import annotations

import zlib

import pytest

from rephraser.postprocess.stats import classify_reason, compute_stats, words_of
from rephraser.run_folder import RunFolderError

FAQ_OK = [
    "Q: What is a cat? A: An animal.",
    "q what IS a dog -- a pet",
    "Q: What is rain? A: Water.",
    "Here we go: cats purr.",
    "Cats purr loudly.",
]


def _faq_rows(mkrow):
    rows = [mkrow(f"d{i}", gen=g, completion_tokens=10 * (i + 1), prompt_tokens=5) for i, g in enumerate(FAQ_OK)]
    rows += [
        mkrow("d5", status="rejected", gen="no pairs here", reason="fewer than 2 question-answer pairs", completion_tokens=7),
        mkrow("d6", status="rejected", gen="cut", reason="finish_reason=length", completion_tokens=64),
        # rejected before generation: no model output, so it must not count against compliance
        mkrow("d7", status="rejected", gen=None, reason="empty text", source_text=""),
        mkrow("d8", status="failed", gen=None, reason="engine error: HTTP 500"),
    ]
    return rows


def test_counts_compliance_and_reasons(make_run, mkrow):
    s = compute_stats(make_run(_faq_rows(mkrow)))["prompts"]["faq"]
    assert (s["documents"], s["rows"], s["ok"], s["rejected"], s["failed"]) == (9, 9, 5, 3, 1)
    assert (s["contract_rejected"], s["input_rejected"]) == (2, 1)
    assert s["format_compliance"] == pytest.approx(round(5 / 7, 4))
    assert s["rejection_reasons"] == {"fewer than 2 question-answer pairs": 1, "finish_reason=length": 1, "empty text": 1}
    assert s["rejection_rules"] == {"validator:qa_pairs": 1, "finish_reason": 1, "input": 1}
    assert s["failure_reasons"] == {"engine error: HTTP 500": 1}


def test_opening_collapse_and_top_openings(make_run, mkrow):
    s = compute_stats(make_run(_faq_rows(mkrow)), opening_words=3, top=2)["prompts"]["faq"]
    # "Q: What is", "q what IS", "Q: What is" normalise to the same opening: 3 of 5 outputs
    assert s["opening_collapse"] == 0.6
    assert s["top_openings"] == [
        {"opening": "q what is", "count": 3, "share": 0.6},
        {"opening": "here we go", "count": 1, "share": 0.2},
    ]
    s1 = compute_stats(make_run(_faq_rows(mkrow), name="r1"), opening_words=1)["prompts"]["faq"]
    assert s1["opening_collapse"] == 0.6  # "q" x3, "here", "cats" x1 each
    s5 = compute_stats(make_run(_faq_rows(mkrow), name="r5"), opening_words=5)["prompts"]["faq"]
    assert s5["opening_collapse"] == 0.2  # the 5-word openings all differ


def test_distinct_n_exact(make_run, mkrow):
    rows = [mkrow("a", gen="A b, a b."), mkrow("b", gen="a B c")]
    s = compute_stats(make_run(rows))["prompts"]["faq"]
    # unigrams 7 total / 3 unique; bigrams ab ba ab | ab bc = 5 / 3; trigrams aba bab | abc = 3 / 3
    assert s["distinct"] == {"distinct_1": round(3 / 7, 4), "distinct_2": 0.6, "distinct_3": 1.0, "exact": True}


def test_distinct_n_switches_to_hyperloglog_past_the_cap(make_run, mkrow, monkeypatch):
    from rephraser.postprocess import stats as stats_mod

    rows = [mkrow(f"d{i}", gen=f"word{i} common{i % 7} tail") for i in range(3000)]
    out = make_run(rows)
    exact = compute_stats(out, quality=False)["prompts"]["faq"]["distinct"]
    monkeypatch.setattr(stats_mod, "DISTINCT_EXACT_CAP", 500)
    approx = compute_stats(out, quality=False)["prompts"]["faq"]["distinct"]
    assert exact["exact"] is True and approx["exact"] is False
    for n in (1, 2, 3):  # HyperLogLog++ at p=14 stays within a few percent here
        assert approx[f"distinct_{n}"] == pytest.approx(exact[f"distinct_{n}"], rel=0.03)


def test_length_ratio_tokens_and_compression(make_run, mkrow):
    gens = ["y" * 50, "y" * 100, "z " * 75, "w" * 200]
    rows = [mkrow(f"d{i}", gen=g, completion_tokens=(i + 1) * 10, prompt_tokens=3) for i, g in enumerate(gens)]
    s = compute_stats(make_run(rows))["prompts"]["faq"]
    assert s["length_ratio"] == {"mean": 1.25, "p5": 0.575, "p50": 1.25, "p95": 1.925}
    tok = s["output_tokens"]
    assert (tok["mean"], tok["p50"], tok["p95"]) == (25.0, 25.0, 38.5)
    assert (tok["completion_total"], tok["ok_completion_total"], tok["prompt_total"]) == (100, 100, 12)
    raw = "".join(g + "\n" for g in gens).encode()
    assert s["compression_ratio"] == round(len(zlib.compress(raw, 6)) / len(raw), 4)


def test_repetitive_outputs_compress_better_than_varied(make_run, mkrow):
    same = [mkrow(f"s{i}", gen="The answer is always the same sentence here.") for i in range(20)]
    varied = [mkrow(f"v{i}", gen=f"Item {i} talks about topic {i * 7919 % 1000} and value {i * i}.") for i in range(20)]
    r = compute_stats(make_run(same, name="same"))["prompts"]["faq"]
    v = compute_stats(make_run(varied, name="varied"))["prompts"]["faq"]
    assert r["compression_ratio"] < v["compression_ratio"]
    assert r["opening_collapse"] == 1.0 and v["opening_collapse"] == 0.05


def test_per_model_breakdown(make_run, mkrow):
    rows = [
        mkrow("a", prompt="table", gen="| a | b |", model="m1"),
        mkrow("b", prompt="table", status="rejected", gen="plain", reason="no markdown table", model="m1"),
        mkrow("a", prompt="table", gen="| c | d |", model="m2"),
        mkrow("b", prompt="table", gen="| e | f |", model="m2"),
    ]
    out = compute_stats(make_run(rows))
    assert out["models"] == ["m1", "m2"]
    table = out["prompts"]["table"]
    assert (table["documents"], table["rows"], table["format_compliance"]) == (2, 4, 0.75)
    assert out["by_model"]["table"]["m1"]["format_compliance"] == 0.5
    assert out["by_model"]["table"]["m2"]["format_compliance"] == 1.0
    assert out["by_model"]["table"]["m1"]["rejection_reasons"] == {"no markdown table": 1}


def test_quality_section(make_run, mkrow):
    good = (
        "The river flows through the old town and past the mill. Farmers bring grain to the market "
        "every week, and the miller grinds it into flour that bakers use for bread. In winter the water "
        "freezes near the banks, so the mill works only part of the day. Children skate on the ice while "
        "their parents trade goods with merchants who have travelled from distant cities along the coast."
    )
    rows = [mkrow("g", gen=good), mkrow("r", gen="buy now " * 40)]
    q = compute_stats(make_run(rows))["prompts"]["faq"]["quality"]
    assert q["documents"] == 2 and q["pass_rate"] == 0.5
    assert q["failed_rules"]["dup_ngram_5"] == 1 and "min_words" not in q["failed_rules"]
    assert "quality" not in compute_stats(make_run(rows, name="nq"), quality=False)["prompts"]["faq"]


def test_empty_group_values_are_none(make_run, mkrow):
    s = compute_stats(make_run([mkrow("x", status="failed", gen=None, reason="timeout")]))["prompts"]["faq"]
    assert s["format_compliance"] is None and s["opening_collapse"] is None
    assert s["length_ratio"]["mean"] is None and s["compression_ratio"] is None


def test_not_an_output_folder(tmp_path):
    with pytest.raises(RunFolderError, match="not found"):
        compute_stats(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a rephraser output folder"):
        compute_stats(tmp_path / "empty")


def test_corrupt_part_is_one_line_error(make_run, mkrow):
    out = make_run([mkrow("a", gen="hello there")])
    (out / "data" / "faq" / "s00000-of-00001-part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunFolderError, match="cannot read"):
        compute_stats(out)


def test_hidden_temp_files_are_ignored(make_run, mkrow):
    out = make_run([mkrow("a", gen="hello there")])
    (out / "data" / "faq" / ".tmp-part-00001.parquet").write_bytes(b"half written")
    assert compute_stats(out)["prompts"]["faq"]["ok"] == 1


def test_helpers():
    assert words_of("Don't STOP -- me_now!") == ["don't", "stop", "me", "now"]
    assert classify_reason("length ratio 0.05 < min 0.2") == "length_window"
    assert classify_reason("refusal") == "refusal"
    assert classify_reason("empty output") == "empty"
    assert classify_reason("missing <rewrite> block") == "tagged_block"
    assert classify_reason("unterminated <rewrite> block") == "tagged_block"
    assert classify_reason("finish_reason=length") == "finish_reason"
    assert classify_reason("no markdown table") == "validator"
    assert classify_reason("no markdown table", "markdown_table_then_qa") == "validator:markdown_table_then_qa"
    assert classify_reason(None) == "unknown"


def test_all_outputs_measures_rejected_text_too(make_run, mkrow):
    rows = [
        mkrow("a", gen="Q: Why 1990? A: Because."),
        mkrow("b", status="rejected", gen="Here is the FAQ about 2024 events", reason="no question-answer pairs"),
        mkrow("c", status="rejected", gen=None, reason="empty document"),  # input: no model output
    ]
    out = make_run(rows)
    ok = compute_stats(out, quality=False)["prompts"]["faq"]
    every = compute_stats(out, quality=False, outputs="all")["prompts"]["faq"]
    assert ok["format_compliance"] == every["format_compliance"] == 0.5  # counts do not change
    assert ok["faithfulness"]["rows"] == 1 and every["faithfulness"]["rows"] == 2
    assert every["faithfulness"]["invented_number_rate"] == 1.0  # 1990 and 2024 are not in the source
    assert [o["opening"] for o in every["top_openings"]] == ["q why 1990", "here is the"]
    with pytest.raises(ValueError, match="outputs"):
        compute_stats(out, outputs="rejected")
