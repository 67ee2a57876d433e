"""Per-document grammars ("layouts") for the format prompts: they shape an output without cutting it.

A prompt's contract may name a layout (`contract.layout: faq`); a run that constrains decoding then
builds one llguidance Lark grammar per document instead of the prompt's fixed `structure`. Why per
document (all measured on SmolLM2-135M, docs/results.md "Outputs that keep the source"):

- units are counted in WORDS, never characters, and prose units end with sentence punctuation, so a
  unit can only stop at a word boundary (fixed character caps cut "...general re" mid-word);
- how many units and how long they may be follow the source's length and the token budget, not fixed
  caps: a 40-word stub gets two short answers, a 300-word extract up to six longer ones;
- numbered steps count up (the grammar spells "1. ", "2. ", ... in order);
- labels are written in the source's language (prompts/language.py): "Q : / R :" for French,
  "P: / R:" for Spanish, so the grammar does not pull the model into English;
- `grounded=True` lets digits appear only as numbers of the source (their exact surface forms), except
  in a math solution, where the result right after "= " and the final answer may be any number (they
  are computations; postprocess/arithmetic.py checks them afterwards).

A layout never repeats-checks its units (a grammar cannot compare two spans): the validators refuse
repeated units (prompts/validators.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from rephraser.prompts.language import LABELS, Lang, detect_language

# Tokens per word of the 135M tokenizer on Wikipedia text (bench/bench_grounded.py --tpw measured
# en 1.5, fr/es 2.0); with a margin, so the largest output the grammar allows fits max_tokens.
TOKENS_PER_WORD: dict[Lang, float] = {"en": 1.7, "fr": 2.3, "es": 2.3}
# Source numbers: digits with thousands/decimal separators ("6,650", "3.5", French "4 401").
_SOURCE_NUMBER = re.compile(r"\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")
_GROUPED = re.compile(r"\d{1,3}(?:[ ,\u00a0\u202f]\d{3})+")
# Word characters: Latin letters (with accents) and in-word marks, for the en/fr/es sources. Measured: with
# any non-space character allowed, a temperature-1 FAQ slid into Arabic script and French into Cyrillic
# look-alikes ("réсtraction"); CJK / full-width forms also cost 1-3 tokens a character (see faq.yaml).
_LATIN = "a-zA-Z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f'’()\\-\\/&%+\"«»–—°$€£¿¡"
# Longest word: at a unit's word cap the 135M model glues words together ("noclearfiningfinespre");
# a short maximum keeps such a run short. Words longer than this are rare in the three languages.
MAX_WORD = 20


@dataclass(frozen=True)
class Plan:
    """What the grammar of one document allows."""

    lang: Lang
    source_words: int
    budget_words: int  # words the whole output may use (from max_tokens)
    target_words: int  # words the units are sized for (from the source's length, within the budget)


def plan_for(source: str, max_tokens: int) -> Plan:
    lang = detect_language(source)
    n = len(source.split())
    budget = max(30, int(max_tokens / TOKENS_PER_WORD[lang] * 0.85))
    return Plan(lang, n, budget, max(30, min(budget, int(1.5 * n))))


def source_numbers(source: str) -> list[str]:
    """The source's numbers as written, plus their forms without separators ("6,650" -> "6650")."""
    found: set[str] = set()
    for m in _SOURCE_NUMBER.finditer(source):
        s = m.group(0)
        found.add(s)
        if _GROUPED.fullmatch(s):  # "6,650" / "5 268" is also written 6650; "2,02" (French 2.02) is not 202
            found.add(re.sub(r"[ ,\u00a0\u202f]", "", s))
    return sorted(found, key=lambda s: (-len(s), s))


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def _words(grounded: bool, numbers: list[str]) -> str:
    """Rules for one word `w` and separators. Words never end with sentence punctuation: that is END."""
    lines = [
        f"W: /[{_LATIN}]{{1,{MAX_WORD}}}/" if grounded else f"W: /[{_LATIN}0-9]{{1,{MAX_WORD}}}/",
        # French typography puts a space before ":", ";" and "!"
        r'SEP: /(?:[ \u00a0]?[;:!]|[,.])? /',
        r'END: /[.!][)"»]?/',
        r'QEND: /[ \u00a0]?\?/',
        r'OPS: / ?[-+x×*\/÷] ?/',
        r'RES: /[-]?\d{1,9}(?:[.,]\d{1,4})?/',  # a computed result (math), any number
    ]
    if grounded:
        if numbers:
            lines += ["NUM: " + " | ".join(_lit(n) for n in numbers),
                      'num: /[(\\["«]?/ NUM /[a-zA-Zé%°]{0,3}[)"\\]»]?/',
                      "w: W | num"]
        else:
            lines += ["w: W"]
    else:
        # bounded: an unbounded number let the model write digit runs until max_tokens (measured)
        lines += [r'NUM: /\d{1,9}(?:[.,]\d{1,4}){0,2}/',
                  'num: /[(\\["«]?/ NUM /[a-zA-Zé%°]{0,3}[)"\\]»]?/',
                  "w: W | num"]
    return "\n".join(lines)


def _sentence(name: str, lo: int, hi: int) -> str:
    """One or more sentences of lo+1 .. hi+1 words ending in sentence punctuation."""
    return f"{name}: w (SEP w){{{lo},{hi}}} END"


def _question(name: str, hi: int) -> str:
    return f"{name}: w (SEP w){{1,{hi}}} QEND"


def _counted(prefix: str, body: str, last: str, lo: int, hi: int) -> list[str]:
    """Numbered lines "1. ", "2. ", ... counting up: at least lo, at most hi; the last line is `last`."""
    rules = []
    for k in range(1, hi + 1):
        head = f'"{k}. "'
        if k == hi:
            rules.append(f"{prefix}{k}: {head} {last}")
        elif k < lo:
            rules.append(f'{prefix}{k}: {head} {body} "\\n" {prefix}{k + 1}')
        else:
            rules.append(f'{prefix}{k}: {head} {last} | {head} {body} "\\n" {prefix}{k + 1}')
    return rules


def faq(p: Plan, grounded: bool, numbers: list[str]) -> str:
    lab = LABELS[p.lang]
    pairs = _clamp(p.source_words // 60 + 2, 2, 5)
    qcap = 16
    # answers longer than questions: measured, 10-word answers were cut at their cap in most pairs
    acap = _clamp(p.target_words // pairs - 8, 15, 80)
    while pairs * (qcap + acap + 2) > p.budget_words and acap > 12:
        acap -= 1
    return "\n".join([
        "%llguidance {}",
        f'start: pair ("\\n\\n" pair){{1,{pairs - 1}}}',
        f'pair: {_lit(lab["q"])} question "\\n" {_lit(lab["a"])} answer',
        _question("question", qcap),
        _sentence("answer", 2, acap),
        _words(grounded, numbers),
    ])


def table(p: Plan, grounded: bool, numbers: list[str]) -> str:
    lab = LABELS[p.lang]
    rows = _clamp(p.source_words // 25 + 1, 2, 8)
    cell = _clamp(p.target_words // (rows * 3), 2, 8)
    while rows * 3 * cell + 40 > p.budget_words and cell > 2:
        cell -= 1
    lines = ["%llguidance {}",
             f'start: (t2 | t3 | t4) "\\n\\n" {_lit(lab["question"])} question "\\n" {_lit(lab["answer"])} short',
             "hc: w (SEP w){0,3}",
             f"c: w (SEP w){{0,{cell - 1}}}",
             _question("question", 20),
             "short: w (SEP w){0,14} END?"]
    for k in (2, 3, 4):
        sep = "|---" * k + "|"
        lines.append(f'row{k}: "\\n|" (" " c " |"){{{k}}}')
        lines.append(f't{k}: "|" (" " hc " |"){{{k}}} "\\n{sep}" row{k}{{1,{rows}}}')
    lines.append(_words(grounded, numbers))
    return "\n".join(lines)


def math(p: Plan, grounded: bool, numbers: list[str]) -> str:
    lab = LABELS[p.lang]
    # the problem and the steps share the word budget (measured: 60-word problems with 25-word steps ran past
    # max_tokens 256 in most math outputs)
    pcap = _clamp(min(p.source_words // 2, p.budget_words // 5), 12, 60)
    scap = _clamp((p.budget_words - 2 * pcap - 16) // 4, 8, 25)
    operand = "num" if (numbers or not grounded) else "RES"
    calc = f"calc: (w SEP){{0,12}} {operand} (OPS {operand}){{1,3}} \" = \" RES (SEP w){{0,8}} END?"
    # a problem with at least one number (of the source, when grounded) ...
    if numbers or not grounded:
        problem = f"problem: (w SEP){{0,{pcap}}} num (SEP w){{1,{pcap}}} (END | QEND) (\" \" question)?"
    else:  # ... or, when the source has none, with number words only
        problem = f"problem: w (SEP w){{4,{pcap}}} (END | QEND)"
    return "\n".join([
        "%llguidance {}",
        f'start: {_lit(lab["problem"])} problem "\\n\\n" {_lit(lab["solution"])} "\\n" s1 "\\n" '
        f'{_lit(lab["final"])} final',
        problem,
        _question("question", 20),
        calc,
        _sentence("step", 2, scap),
        "body: step | calc",
        *_counted("s", "body", "calc", 1, 4),
        "final: fin (\" \" fin){0,7}",
        "fin: w | RES",
        _words(grounded, numbers),
    ])


def tutorial(p: Plan, grounded: bool, numbers: list[str]) -> str:
    steps = _clamp(p.source_words // 20 + 2, 3, 10)
    cap = _clamp(p.target_words // steps, 8, 60)
    while steps * (cap + 2) > p.budget_words and cap > 8:
        cap -= 1
    return "\n".join([
        "%llguidance {}",
        "start: s1",
        _sentence("step", 2, cap),
        *_counted("s", "step", "step", 3, steps),
        _words(grounded, numbers),
    ])


LAYOUTS: dict[str, Callable[[Plan, bool, list[str]], str]] = {
    "faq": faq, "table": table, "math": math, "tutorial": tutorial}


def build_layout(name: str, source: str, *, max_tokens: int, grounded: bool) -> str:
    """The Lark grammar of layout `name` for one source document."""
    try:
        build = LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(sorted(LAYOUTS))}") from None
    return build(plan_for(source, max_tokens), grounded, source_numbers(source) if grounded else [])
