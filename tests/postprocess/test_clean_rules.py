"""Each cleaning rule on its own, with realistic model outputs."""

from __future__ import annotations

from rephraser.postprocess.clean import (
    drop_think_blocks,
    extract_tagged_block,
    is_refusal,
    normalise_whitespace,
    strip_preambles,
    strip_prefixes,
    strip_trailing_chatter,
    unwrap_code_fence,
)

BODY = "The Nile flows north through eleven countries."


def test_think_blocks_are_dropped_even_unterminated_or_half_open():
    assert drop_think_blocks(f"<think>plan the answer</think>\n{BODY}").strip() == BODY
    assert drop_think_blocks(f"<THINK>\nA\n</THINK>{BODY}<think>again</think>").strip() == BODY
    # Unterminated: the model ran out of tokens while thinking; nothing after <think> is content.
    assert drop_think_blocks(f"{BODY}\n<think>I should also mention").strip() == BODY
    assert drop_think_blocks("<think>only thoughts, never finished").strip() == ""
    # Template pre-opened the block: only the closing tag is in the output.
    assert drop_think_blocks(f"reasoning here...\n</think>\n\n{BODY}").strip() == BODY
    assert drop_think_blocks(BODY) == BODY


def test_tagged_block_keeps_the_last_complete_block_or_says_why_not():
    raw = (
        "<reasoning>The page mixes ads with facts; I will write <improved_document> at the end.</reasoning>\n"
        f"<improved_document>\n{BODY}\n</improved_document>\nThanks!"
    )
    assert extract_tagged_block(raw, "improved_document") == (f"\n{BODY}\n", None)
    assert extract_tagged_block(f"<reasoning>x</reasoning>{BODY}", "improved_document") == (
        None, "missing <improved_document> block")
    assert extract_tagged_block(f"<improved_document>{BODY}", "improved_document") == (
        None, "unterminated <improved_document> block")


def test_prefixes_are_stripped_tolerantly():
    p = ("Here is a paraphrased version:",)
    assert strip_prefixes(f"Here is a paraphrased version:\n{BODY}", p) == BODY
    assert strip_prefixes(f"  **here is a  paraphrased version:**\n\n{BODY}", p).strip() == BODY
    assert strip_prefixes(f"## Here is a paraphrased version\n{BODY}", p).strip() == BODY
    assert strip_prefixes(f"HERE IS A PARAPHRASED VERSION: {BODY}", p) == BODY
    # Repeated announcing lines, a frequent small-model habit.
    assert strip_prefixes(f"Here is a paraphrased version:\nHere is a paraphrased version:\n{BODY}", p) == BODY
    # Not at the start, or only a longer word: untouched.
    mid = f"{BODY} Here is a paraphrased version: no."
    assert strip_prefixes(mid, p) == mid
    assert strip_prefixes("Here is a paraphrased versions list", p) == "Here is a paraphrased versions list"


def test_preambles_are_stripped_but_content_is_not():
    assert strip_preambles(f"Sure! Here is the FAQ based on the document:\n\n{BODY}") == BODY
    assert strip_preambles(f"Certainly.\n\nHere's a table summarising the key data:\n{BODY}") == BODY
    assert strip_preambles(f"**Here are the steps:**\n1. {BODY}") == f"1. {BODY}"
    assert strip_preambles(f"Of course! {BODY}") == BODY
    assert strip_preambles(BODY) == BODY
    # Words that merely start like an interjection are content.
    assert strip_preambles("Great Britain is an island.") == "Great Britain is an island."
    # "Here is" without an announcing colon is prose.
    assert strip_preambles("Here is where the river meets the sea.") == "Here is where the river meets the sea."


def test_refusals_are_detected_at_the_start_only():
    assert is_refusal("I'm sorry, but I can't help with rewriting this document.")
    assert is_refusal("I cannot rephrase this text because it contains personal data.")
    assert is_refusal("As an AI language model, I do not have opinions.")
    assert is_refusal("**I am unable to** complete this task.")
    assert not is_refusal(BODY)
    assert not is_refusal("Teacher: Why does the Nile flood?\nStudent: I'm sorry, I don't know.")
    assert not is_refusal("I cannot stress enough how important the river was.")


def test_trailing_chatter_is_removed_line_or_sentence_wise():
    assert strip_trailing_chatter(f"{BODY}\n\nI hope this helps! Let me know if you need anything else.") == BODY
    assert strip_trailing_chatter(f"{BODY} Feel free to ask more questions.") == BODY
    assert strip_trailing_chatter(f"Q: Why?\nA: {BODY}\n\n*Hope this helps.*\n\n") == f"Q: Why?\nA: {BODY}"
    assert strip_trailing_chatter(f"Let me know how it goes, said Ana.\n{BODY}") == f"Let me know how it goes, said Ana.\n{BODY}"
    assert strip_trailing_chatter("I hope this helps.") == ""


def test_whitespace_is_normalised_without_touching_inner_layout():
    raw = "\r\n\r\n| a  | b |\r\n|---|---|\r\n| 1  | 2 |   \n\n\n\n    code indent\u00a0\n\n"
    assert normalise_whitespace(raw) == "| a  | b |\n|---|---|\n| 1  | 2 |\n\n    code indent"


def test_whole_output_fence_is_unwrapped_but_real_code_is_not():
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert unwrap_code_fence(f"```markdown\n{table}\n```") == table
    assert unwrap_code_fence(f"\n```\n{table}\n```\n") == table
    code = "```python\nprint(1)\n```"
    assert unwrap_code_fence(code) == code
    two = "```\na\n```\ntext\n```\nb\n```"
    assert unwrap_code_fence(two) == two
    assert unwrap_code_fence(BODY) == BODY


def test_chatter_found_in_real_outputs_is_stripped():
    """Openings collected from the shipped generators (fixtures/chatter_cases.json): the contract keeps
    the content and drops the talk around it."""
    import json
    from pathlib import Path

    from rephraser.postprocess.contract import clean_text
    from rephraser.prompts.registry import resolve_prompt

    cases = json.loads((Path(__file__).parent / "fixtures" / "chatter_cases.json").read_text())["cases"]
    assert {c["model"] for c in cases} >= {"SmolLM2-135M-Instruct"}
    for c in cases:
        text, _ = clean_text(resolve_prompt(c["prompt"]).contract, c["raw"])
        assert text.startswith(c["cleaned_starts_with"]), (c["origin"], text[:80])
    # First-person content is not chatter: only lines about the task are dropped.
    assert strip_preambles("I will never forget that day.\nThe river rose.") == "I will never forget that day.\nThe river rose."
