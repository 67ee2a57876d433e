"""Per-document grammars ("layouts") for the format prompts: they shape an output without cutting it.

A prompt's contract may name a layout (`contract.layout: faq`); a run that constrains decoding then
builds one llguidance Lark grammar per document instead of the prompt's fixed `structure`. Why per
document (all measured on SmolLM2-135M, docs/results.md "Outputs that keep the source"):

- units are counted in WORDS, never characters, and prose units end with sentence punctuation, so a
  unit can only stop at a word boundary (fixed character caps cut "...general re" mid-word);
- where a run of words reaches its cap, its last slot takes a whole word of the source (`last`): at a
  bare word cap the 135M model glued the words it still wanted into one ("themiddlelatitudesof"), and a
  word must start with a letter, so ")" or "-" cannot join words or fill table cells;
- how many units and how long they may be follow the source's length and the token budget, not fixed
  caps: a 40-word stub gets two short answers, a 300-word extract up to six longer ones;
- numbered steps count up (the grammar spells "1. ", "2. ", ... in order);
- labels are written in the source's language (prompts/language.py): "Q : / R :" for French,
  "P: / R:" for Spanish, so the grammar does not pull the model into English; and a French or Spanish
  question opens with a question word of its language ("Quel", "Comment", "¿Dónde"...);
- `grounded=True` lets digits appear only as numbers of the source (their exact surface forms); a math
  solution computes only the correct results of two source numbers (`equations`: every a + b, a - b,
  a × b, a / b, listed in the grammar), and a source without numbers gets no grounded math at all
  (LayoutRefusal: the row is rejected with that reason before decoding).

A layout never repeats-checks its units (a grammar cannot compare two spans): the validators refuse
repeated units (prompts/validators.py).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rephraser.prompts.language import FUNCTION_WORDS, LABELS, QUESTION_OPENERS, Lang, detect_language

# Tokens per word of the 135M tokenizer on Wikipedia text (bench/bench_grounded.py --tpw measured
# en 1.5, fr/es 2.0); with a margin, so the largest output the grammar allows fits max_tokens.
TOKENS_PER_WORD: dict[Lang, float] = {"en": 1.7, "fr": 2.3, "es": 2.3}
# Source numbers: digits with thousands/decimal separators ("6,650", "3.5", French "4 401").
# Not a digit glued to letters ("km2", "CO2"): the faithfulness measure does not read those as numbers either.
_SOURCE_NUMBER = re.compile(r"(?<!\w)\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")
MAX_OPERANDS = 10  # distinct source numbers a grounded math solution combines (10 -> at most 370 equations)


class LayoutRefusal(ValueError):
    """A layout cannot be built for this document (the row is rejected with this reason, before decoding)."""


_GROUPED = re.compile(r"\d{1,3}(?:[ ,\u00a0\u202f]\d{3})+")
# Word characters: Latin letters (with accents) and in-word marks, for the en/fr/es sources. Measured: with
# any non-space character allowed, a temperature-1 FAQ slid into Arabic script and French into Cyrillic
# look-alikes ("réсtraction"); CJK / full-width forms also cost 1-3 tokens a character (see faq.yaml).
# A word starts with a letter (after at most two opening marks) and ends with at most two closing marks, so
# "------" is no word (tables of dashes, measured) and ")" cannot join two words ("themiddle)oftheEarth").
_ALPHA = "a-zA-Z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f"
_INNER = _ALPHA + "'’\\-\\/&"
_OPEN = "(\\[\"«“¿¡$€£"
_CLOSE = ")\\]\"»”%°"
# Longest word: at a unit's word cap the 135M model glued words together ("noclearfiningfinespre"); a short
# maximum keeps such a run short. Words longer than this are rare in the three languages.
MAX_WORD = 20
# The word that fills the last slot of a capped run comes from the source: at the cap the model, which wanted
# to go on, must finish a whole word it can only take from this list (most frequent first, at most this many).
MAX_LAST_WORDS = 400
_SOURCE_WORD = re.compile(f"[{_ALPHA}][{_ALPHA}'’\\-]*[{_ALPHA}]")


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
    """The source's numbers as written, plus their forms without thousands separators ("6,650" -> "6650")."""
    found: set[str] = set()
    for m in _SOURCE_NUMBER.finditer(source):
        s = m.group(0)
        found.add(s)
        if _GROUPED.fullmatch(s):  # "6,650" / "5 268" is also written 6650; "2,02" (French 2.02) is not 202
            found.add(re.sub(r"[ ,\u00a0\u202f]", "", s))
    return sorted(found, key=lambda s: (-len(s), s))


def last_words(source: str) -> list[str]:
    """Words that may close a capped run: the source's content words (3+ letters, not the function words that
    tell its language apart), as written and in lower case, most frequent first."""
    counts: Counter[str] = Counter()
    for w in _SOURCE_WORD.findall(source):
        if len(w) <= MAX_WORD and w.lower() not in FUNCTION_WORDS:
            counts[w] += 1
            counts[w.lower()] += 0
    return [w for w, _ in counts.most_common(MAX_LAST_WORDS)]


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def _tail(lo: int, hi: int) -> str:
    """lo .. hi more words after a first one; a run that reaches hi ends on a whole source word (`last`)."""
    capped = f"(SEP w){{{hi - 1}}} SEP last" if hi > 1 else "SEP last"
    if hi - 1 < lo:
        return f"({capped})"
    if hi == 1:  # one word, or two ending on `last` (llguidance refuses a {0,0} range)
        return f"({capped})?"
    return f"((SEP w){{{lo},{hi - 1}}} | {capped})"


def _run(lo: int, hi: int) -> str:
    """lo+1 .. hi+1 words (see _tail)."""
    return f"w {_tail(lo, hi)}"


def _words(grounded: bool, numbers: list[str], source: str) -> str:
    """Rules for one word `w`, separators, and `last`. Words never end with sentence punctuation: that is END."""
    inner = _INNER if grounded else _INNER + "0-9"
    last = last_words(source) or ["the"]
    lines = [
        f"W: /[{_OPEN}]{{0,2}}[{_ALPHA}][{inner}]{{0,{MAX_WORD - 1}}}[{_CLOSE}]{{0,2}}/",
        # French typography puts a space before ":", ";" and "!"; a spaced dash joins clauses
        r'SEP: /(?:[ \u00a0]?[;:!]|[,.]| [–—])? /',
        r'END: /[.!][)"»]?/',
        r'QEND: /[ \u00a0]?\?/',
        r'OPS: / ?[-+x×*\/÷] ?/',
        r'RES: /[-]?\d{1,9}(?:[.,]\d{1,4})?/',  # a computed result (math, not grounded), any number
        "LASTW: " + " | ".join(_lit(w) for w in last),
        f"last: LASTW | LASTW /[{_CLOSE}]{{1,2}}/ | num",
    ]
    if grounded:
        if numbers:
            lines += ["NUM: " + " | ".join(_lit(n) for n in numbers),
                      'num: /[(\\["«]?/ NUM /[a-zA-Zé%°]{0,3}[)"\\]»]?/',
                      "w: W | num"]
        else:
            lines += ['num: "\\u0000"',  # no number can be written (a NUL byte never is)
                      "w: W"]
    else:
        # bounded: an unbounded number let the model write digit runs until max_tokens (measured)
        lines += [r'NUM: /\d{1,9}(?:[.,]\d{1,4}){0,2}/',
                  'num: /[(\\["«]?/ NUM /[a-zA-Zé%°]{0,3}[)"\\]»]?/',
                  "w: W | num"]
    return "\n".join(lines)


def _sentence(name: str, lo: int, hi: int) -> str:
    """One or more sentences of lo+1 .. hi+1 words ending in sentence punctuation."""
    return f"{name}: {_run(lo, hi)} END"


def _question(name: str, hi: int, lang: Lang = "en") -> str:
    """A question of 2 .. hi+1 words; in French or Spanish it opens with a question word of the language."""
    openers = QUESTION_OPENERS[lang]
    if not openers:
        return f"{name}: {_run(1, hi)} QEND"
    return f"{name}: ({' | '.join(_lit(o) for o in openers)}) {_tail(1, hi)} QEND"


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


def faq(p: Plan, grounded: bool, numbers: list[str], source: str) -> str:
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
        _question("question", qcap, p.lang),
        _sentence("answer", 2, acap),
        _words(grounded, numbers, source),
    ])


def table(p: Plan, grounded: bool, numbers: list[str], source: str) -> str:
    lab = LABELS[p.lang]
    rows = _clamp(p.source_words // 25 + 1, 2, 8)
    cell = _clamp(p.target_words // (rows * 3), 2, 8)
    # the largest table (a header and `rows` rows of 4 cells, each pipe worth about 1.5 words), the question
    # and the answer fit the budget: measured, 3 of 8 grounded tables ran past max_tokens 256 when only 3
    # cells a row and no pipes were counted
    while (rows + 1) * 4 * (cell + 1.5) + 30 > p.budget_words and (cell > 2 or rows > 2):
        if cell > 2:
            cell -= 1
        else:
            rows -= 1
    lines = ["%llguidance {}",
             f'start: (t2 | t3 | t4) "\\n\\n" {_lit(lab["question"])} question "\\n" {_lit(lab["answer"])} short',
             f"hc: {_run(0, 3)}",
             # a cell holds words or one number; its last slot takes a whole source word, so a cell that
             # reaches its cap cannot run on into the next one ("| Global Navigation Satell|")
             f"c: {_run(0, cell - 1)}",
             _question("question", 14, p.lang),
             f"short: {_run(0, 10)} END?"]
    for k in (2, 3, 4):
        sep = "|---" * k + "|"
        lines.append(f'row{k}: "\\n|" (" " c " |"){{{k}}}')
        lines.append(f't{k}: "|" (" " hc " |"){{{k}}} "\\n{sep}" row{k}{{1,{rows}}}')
    lines.append(_words(grounded, numbers, source))
    return "\n".join(lines)


def _value(number: str) -> float | None:
    """The value of a source number as written: grouped thousands ("6,650", "5 268") or a decimal ("2,02");
    None for what has no single value (a version or date such as "1.01.325")."""
    if _GROUPED.fullmatch(number):
        return float(re.sub(r"[ ,\u00a0\u202f]", "", number))
    try:
        return float(number.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None


def _show(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.2f}".rstrip("0")


def equations(numbers: list[str], limit: int = MAX_OPERANDS) -> list[str]:
    """Every correct "a op b = r" over the source's numbers (the first `limit` distinct values, as written):
    a + b, a - b (a > b), a × b (r < 10^9), a / b (exact to 2 decimals). A grounded solution computes only
    these, so each of its numbers is a source number or a plain arithmetic result of two of them."""
    seen: dict[float, str] = {}
    for n in numbers:  # longest forms first (source_numbers' order): "6,650" is kept over "6650"
        v = _value(n)
        if v is not None and v not in seen and len(seen) < limit:
            seen[v] = n
    out = []
    for a, sa in seen.items():
        for b, sb in seen.items():
            if a == b:  # a doubling only
                out.append(f"{sa} + {sb} = {_show(a + b)}")
                continue
            results = [("+", a + b), ("×", a * b)]
            if a > b:
                results.append(("-", a - b))
            if b not in (0, 1) and abs(a / b * 100 - round(a / b * 100)) < 1e-9:
                results.append(("/", a / b))
            out += [f"{sa} {op} {sb} = {_show(r)}" for op, r in results if r < 1e9]
    return out


def math(p: Plan, grounded: bool, numbers: list[str], source: str) -> str:
    lab = LABELS[p.lang]
    if grounded and not numbers:
        raise LayoutRefusal("grounded math needs numbers in the source (none found)")
    # the problem (two runs of pcap words around its number, and a question of up to 12), four steps and the
    # final answer share the word budget: measured, 60-word problems with 25-word steps ran past max_tokens
    # 256 in most math outputs, and French grounded math still did when only part of the problem was counted
    pcap = _clamp(min(p.source_words // 2, p.budget_words // 6), 8, 40)
    per_step = (p.budget_words - (2 * pcap + 14) - 15) // 4
    scap = _clamp(per_step - 2, 6, 25)
    ctail = _clamp(per_step - 6, 2, 10)  # words after an equation (its own ~5 words come first)
    if grounded:
        # only correct arithmetic on source numbers: results are listed, never free (postprocess/arithmetic.py
        # explains exactly these, so a grounded math output invents no number)
        eqs = equations(numbers)
        # the equation opens its line and a prose step opens with a word: were an equation allowed after words,
        # the lexer, reading "6,650 " as the start of "6,650 - 6,400 = 250", could no longer end the number
        # there and would refuse "is 6,650 km long" (llguidance lexes greedily)
        calc = f"calc: EQ {_tail(0, ctail)}? END?"
        answer = ["EQ: " + " | ".join(_lit(e) for e in eqs), "RESULT: " + " | ".join(
            _lit(r) for r in sorted({e.rsplit(" = ", 1)[1] for e in eqs})), "ans: num | RESULT"]
    else:
        calc = "calc: (w SEP){0,6} num (OPS num){1,3} \" = \" RES " + f"{_tail(0, ctail)}? END?"
        answer = ["ans: num | RES"]
    return "\n".join([
        "%llguidance {}",
        f'start: {_lit(lab["problem"])} problem "\\n\\n" {_lit(lab["solution"])} "\\n" s1 "\\n" '
        f'{_lit(lab["final"])} final',
        # a problem with at least one number (of the source, when grounded)
        f"problem: (w SEP){{0,{pcap}}} num {_tail(1, pcap)} (END | QEND) (\" \" question)?",
        _question("question", 11, p.lang),
        calc,
        f"step: W {_tail(2, scap)} END" if grounded else _sentence("step", 2, scap),
        "body: step | calc",
        *_counted("s", "body", "calc", 1, 4),
        # the final answer holds a number: of the source, or a listed result when grounded
        f"final: (w \" \"){{0,4}} ans {_tail(0, 4)}?",
        *answer,
        _words(grounded, numbers, source),
    ])


def tutorial(p: Plan, grounded: bool, numbers: list[str], source: str) -> str:
    steps = _clamp(p.source_words // 20 + 2, 3, 10)
    cap = _clamp(p.target_words // steps, 8, 60)
    while steps * (cap + 2) > p.budget_words and cap > 8:
        cap -= 1
    return "\n".join([
        "%llguidance {}",
        "start: s1",
        _sentence("step", 2, cap),
        *_counted("s", "step", "step", 3, steps),
        _words(grounded, numbers, source),
    ])


LAYOUTS: dict[str, Callable[[Plan, bool, list[str], str], str]] = {
    "faq": faq, "table": table, "math": math, "tutorial": tutorial}


def build_layout(name: str, source: str, *, max_tokens: int, grounded: bool) -> str:
    """The Lark grammar of layout `name` for one source document."""
    try:
        build = LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(sorted(LAYOUTS))}") from None
    return build(plan_for(source, max_tokens), grounded, source_numbers(source) if grounded else [], source)
