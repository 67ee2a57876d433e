"""Apply a prompt's contract to one raw model output: the single entry point for the runner and
`rephraser clean`.

The rules run in a fixed order and the FIRST one that fails decides the verdict; `rule` names it so
rejections can be counted per rule, and `reason` says what was wrong in a few words. Cleaning goes on
after a failure so `text` always holds the fully cleaned output, kept with rejected rows for audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rephraser.config import FloorThresholds
from rephraser.postprocess import clean
from rephraser.postprocess.cuts import cut_problem
from rephraser.postprocess.echo import echo_problem
from rephraser.postprocess.faithfulness import Faithfulness, measure, violation
from rephraser.postprocess.floor import effective_limits
from rephraser.postprocess.lexicon import wiki_lexicon
from rephraser.prompts.spec import Contract, PromptSpec
from rephraser.prompts.validators import validate

# Rule names, in the order they are applied ("validator:<name>" for format validators).
RULES: tuple[str, ...] = ("finish_reason", "tagged_block", "refusal", "empty", "validator", "echo", "cut",
                          "length_window", "faithfulness")


# Reason prefix of rows kept although they failed their contract (postprocess.enforce=false): the
# verdict is recorded and counted by `rephraser stats`, but the row is not filtered out.
NOT_ENFORCED = "not enforced: "


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # the cleaned text (also when rejected, for auditing)
    reason: str | None  # None when ok
    rule: str | None  # the rule that rejected, e.g. "length_window", "validator:qa_pairs", "refusal"
    # measured on the cleaned text against the source (None: no text); not part of the verdict's identity
    faithfulness: Faithfulness | None = field(default=None, compare=False)


def clean_text(contract: Contract, raw: str) -> tuple[str, list[tuple[str, str]]]:
    """Clean `raw` under `contract`; returns the text and the (rule, reason) failures met on the way."""
    failures: list[tuple[str, str]] = []
    text = raw.replace("\r\n", "\n")
    if contract.think_blocks == "drop":
        text = clean.drop_think_blocks(text)
    if contract.keep_tagged_block:
        block, problem = clean.extract_tagged_block(text, contract.keep_tagged_block)
        if block is not None:
            text = block
        else:
            failures.append(("tagged_block", problem or "missing tagged block"))
    if contract.strip_prefixes:
        text = clean.strip_prefixes(text, contract.strip_prefixes)
    if contract.reject_preambles:
        text = clean.strip_preambles(text)
        if contract.strip_prefixes:  # "Sure! <announcing line>": the prefix shows only after the preamble goes
            text = clean.strip_prefixes(text, contract.strip_prefixes)
        if clean.is_refusal(text):
            failures.append(("refusal", "refusal"))
        text = clean.strip_trailing_chatter(text)
        text = clean.unwrap_code_fence(text)
    text = clean.normalise_whitespace(text)
    if not text:
        failures.append(("empty", "empty output"))
    return text, failures


def length_window_problem(contract: Contract, text: str, source_text: str) -> str | None:
    """'length ratio 0.05 < min 0.2' when the output/input character ratio is outside the window."""
    if not source_text or (contract.min_length_ratio is None and contract.max_length_ratio is None):
        return None
    ratio = len(text) / len(source_text)
    if contract.min_length_ratio is not None and ratio < contract.min_length_ratio:
        return f"length ratio {ratio:.2f} < min {contract.min_length_ratio:g}"
    if contract.max_length_ratio is not None and ratio > contract.max_length_ratio:
        return f"length ratio {ratio:.2f} > max {contract.max_length_ratio:g}"
    return None


def apply_contract(
    spec: PromptSpec,
    raw: str,
    *,
    source_text: str,
    finish_reason: str,
    allow_length_finish: bool | None = None,
    floor: FloorThresholds | None = None,
) -> Verdict:
    """Clean and judge one output. `allow_length_finish` overrides the prompt's own setting; `floor` is the
    run's content floor (postprocess/floor.py), checked after the format rules."""
    contract = spec.contract
    allowed = contract.allow_length_finish if allow_length_finish is None else allow_length_finish
    failures: list[tuple[str, str]] = []
    if finish_reason == "length" and not allowed:
        failures.append(("finish_reason", "finish_reason=length"))
    text, cleaning_failures = clean_text(contract, raw or "")
    failures += cleaning_failures
    if text and contract.validator:
        problem = validate(contract.validator, text)
        if problem:
            failures.append((f"validator:{contract.validator}", problem))
    faith = None
    if text:
        # the prompt's instructions or worked example written back instead of the document's content
        problem = echo_problem(text, spec.overhead_text(), source_text or "") if source_text else None
        if problem:
            failures.append(("echo", problem))
        # a unit ending inside a word (a grammar cap, or words glued at one) is refused, so no ok row is cut
        problem = cut_problem(text, source_text or "", wiki_lexicon)
        if problem:
            failures.append(("cut", problem))
        problem = length_window_problem(contract, text, source_text)
        if problem:
            failures.append(("length_window", problem))
        faith = measure(text, source_text or "")
        broken = violation(effective_limits(contract, floor), faith) if source_text else None
        if broken:
            failures.append(broken)
    if failures:
        rule, reason = failures[0]
        return Verdict(ok=False, text=text, reason=reason, rule=rule, faithfulness=faith)
    return Verdict(ok=True, text=text, reason=None, rule=None, faithfulness=faith)
