"""The English cloze layouts of lighteval 0.10's prompt templates, re-implemented from its definitions.

The study scored its proxies with lighteval 0.10 and a task file of its own (multichoice template in
its cloze formulation, the QA template, the HellaSwag template, the continuation template with the
WinoGrande adapter). These functions give the same query and continuations for a row; tests compare
them with lighteval's own template functions when lighteval is installed.

English specifics that make some steps simple: every punctuation mark maps to itself, and the
"sentence space" and "word space" are both one blank, so lighteval's `fix_ending_punct` reduces to
stripping trailing whitespace and an answer is always one blank followed by its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SENTENCE_END = ("?", ".", "!", ":", ";")
WIKIHOW_ARTIFACT = " [title]"


@dataclass(frozen=True)
class Prompted:
    """One lighteval document: the item's own query, its continuations and the gold indices."""

    query: str
    choices: tuple[str, ...]
    golds: tuple[int, ...]

    def target(self) -> str:
        """The continuation a few-shot example is completed with (lighteval: the first gold)."""
        return self.choices[self.golds[0]]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def decapitalize(text: str) -> str:
    return text[:1].lower() + text[1:]


def ends_sentence(text: str) -> bool:
    return text.rstrip().endswith(SENTENCE_END)


def fix_capitalization(prefix: str, text: str) -> str:
    """Capitalised after nothing, a newline or a sentence end; lower-cased first letter otherwise."""
    if not prefix or prefix.endswith("\n") or ends_sentence(prefix):
        return capitalize(text)
    return decapitalize(text)


def _golds(gold: int | Sequence[int]) -> tuple[int, ...]:
    return (gold,) if isinstance(gold, int) else tuple(gold)


def multichoice(question: str, choices: Sequence[str], gold: int | Sequence[int], context: str = "") -> Prompted:
    """[Context]\nQuestion: Q\nAnswer: | " Choice" (cloze formulation: no options in the query)."""
    context = f"{capitalize(context.rstrip())}\n" if context else ""
    query = f"{context}Question: {capitalize(question.rstrip())}\nAnswer:"
    answers = tuple(" " + capitalize(str(c).rstrip()) for c in choices)
    return Prompted(query, answers, _golds(gold))


def qa(question: str, answers: Sequence[str], context: str = "") -> Prompted:
    """Every distinct answer is a gold continuation of the multichoice layout.

    lighteval de-duplicates with a Python set, whose order depends on the string hash seed, so the
    answer it puts first (the few-shot target) varies between processes; we keep first-seen order.
    """
    distinct = list(dict.fromkeys(answers))
    return multichoice(question, distinct, tuple(range(len(distinct))), context=context)


def continuation(context: str, continuations: Sequence[str], gold: int | Sequence[int]) -> Prompted:
    """Context | " continuation", each continuation capitalised only after a sentence end."""
    context = capitalize(context.rstrip())
    answers = tuple(" " + fix_capitalization(context, c.rstrip()) for c in continuations)
    return Prompted(context, answers, _golds(gold))


def hellaswag_clean(text: str, dot: str = ". ") -> str:
    """WikiHow markup out: " [title]" becomes a sentence break, other [tags] vanish, then strip."""
    text = text.replace(WIKIHOW_ARTIFACT, dot)
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ").strip()


def hellaswag(ctx_a: str, ctx_b: str, endings: Sequence[str], gold: int | Sequence[int],
              activity_label: str = "") -> Prompted | None:
    """ctx_a and ctx_b joined into one context; None when an ending is empty after cleaning."""

    def clean_context(text: str) -> str:
        return capitalize(hellaswag_clean(text).rstrip()) if text else ""

    a, b = clean_context(ctx_a), clean_context(ctx_b)
    if b:
        a = f"{a.rstrip()} {fix_capitalization(a, b)}"
    label = f"{capitalize(activity_label)}:\n" if activity_label else ""
    choices = [hellaswag_clean(e) for e in endings]
    if any(not c.strip() for c in choices):
        return None
    return continuation(label + a, choices, gold)


def winogrande(sentence: str, option1: str, option2: str, answer: str) -> Prompted | None:
    """The text before the blank is the context; "option + rest" (joined by a blank) each choice."""
    if sentence.count("_") != 1:
        return None
    before, after = sentence.split("_")
    if not before.strip():
        return None
    return continuation(before, [f"{option1} {after}", f"{option2} {after}"], int(answer) - 1)
