"""Faithfulness of a rewrite to its source: cheap, per-row, explainable measures.

Format validators say whether an output has the requested shape; these say whether it stays true to
the document. They are heuristics over surface forms (no model), chosen so a reader can check every
flagged item by eye:

- invented_numbers: distinct numbers in the output that the source does not contain (digits, or the
  same value written as a word such as "three"). List markers ("1.", "Step 2", "Q3:") are ignored.
- invented_entities: distinct capitalised spans ("A Song of Rules", "Paris") whose words do not occur
  in the source in any case. Single function words and layout labels (Q, Answer, Step, Teacher) are
  ignored, so sentence-initial capitals of ordinary words do not count.
- content_recall: share of the source's distinct content words (not stop words, >= 3 letters) that
  appear in the output; low recall = the rewrite dropped most of the document.
- novelty_3gram: share of the output's word 3-grams absent from the source; high novelty = new text
  (paraphrase, or invention), low = copying.

`measure(text, source)` is the one entry point for rows; `FaithfulnessSummary` aggregates rows for
`rephraser stats`. Thresholds (a prompt contract's own, or the run's content floor, postprocess/floor.py)
are checked by `violation()`.

Numbers are read as English, French and Spanish write them (postprocess/numbers.py); words are folded
(lowercase, no accents), with apostrophe variants unified and possessives and elided articles cut
("Earth's" is "earth", "l'Europe" is "europe"); function words and number words come in the three
languages (postprocess/lang_words.py), and the source's language picks the function words for recall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rephraser.postprocess.lang_words import (
    ALL_STOP_WORDS,
    APOSTROPHES,
    ELISIONS,
    LAYOUT_LABELS,
    NUMBER_WORDS,
    STOP_WORDS,
    UPPER,
    fold,
    language_of,
)
from rephraser.postprocess.numbers import number_tokens, readings

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# A capitalised span: capitalised words (any Latin, Greek or Cyrillic capital: "États-Unis" is one),
# optionally joined by short lowercase connectors ("Bay of Bengal", "Francisco de Goya").
_CONNECTORS = ("of", "the", "de", "la", "le", "les", "du", "des", "del", "von", "van", "der", "da", "di")
_CAP = rf"[{UPPER}][\w'\-]*"
_SPAN = re.compile(rf"{_CAP}(?:\s+(?:(?:{'|'.join(_CONNECTORS)})\s+)*{_CAP})*")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)+\|?\s*$")

@dataclass(frozen=True)
class Faithfulness:
    invented_numbers: tuple[str, ...]
    invented_entities: tuple[str, ...]
    content_recall: float | None  # None when the source has no content words
    novelty_3gram: float | None  # None when the output has fewer than 3 words

    def columns(self) -> dict[str, Any]:
        """The values stored in a row (records.FAITHFULNESS_COLUMNS)."""
        return {
            "invented_numbers": len(self.invented_numbers),
            "invented_entities": len(self.invented_entities),
            "content_recall": self.content_recall,
            "novelty_3gram": self.novelty_3gram,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.columns(), "invented_number_list": list(self.invented_numbers),
                "invented_entity_list": list(self.invented_entities)}


def numbers_of(text: str, *, skip_markers: bool) -> dict[str, frozenset[str]]:
    """Each number as written -> the values it may stand for (postprocess/numbers.py)."""
    return {tok: readings(tok) for tok in number_tokens(text, skip_layout=skip_markers)}


def _unelide(word: str) -> str:
    """ "l'europe" -> "europe", "earth's" -> "earth"; other apostrophe words ("o'brien") stay whole."""
    head, sep, rest = word.partition("'")
    if not sep:
        return word
    if head in ELISIONS and rest:
        return _unelide(rest)
    if rest == "s" or (rest == "" and head):  # English possessive
        return head
    return word


def words_of(text: str) -> list[str]:
    """The text's words, folded (lowercase, no accents), apostrophes unified, elisions and possessives cut."""
    return [_unelide(w) for w in _WORD.findall(fold(text.translate(APOSTROPHES)))]


def _stem(w: str) -> str:
    # Crude plural folding so "rivers" recalls "river" (and French/Spanish "-s"/"-x"); enough for a ratio.
    return w[:-1] if len(w) > 4 and w[-1] in "sx" and not w.endswith("ss") else w


def content_words(words: list[str], lang: str = "en") -> set[str]:
    stops = STOP_WORDS[lang] | STOP_WORDS["en"]
    return {_stem(w) for w in words if len(w) >= 3 and w.isalpha() and w not in stops}


# What may precede a sentence start: line start, end punctuation, a colon (labels "A:"), a table cell's
# pipe, list markers.
_SENTENCE_START = re.compile(r"(?:^|[.!?:|]|^\s*(?:[-*+>#|]|\d{1,3}[.)])+)[\s*_\"'(«¿¡]*$", re.MULTILINE)


def _without_table_headers(text: str) -> str:
    """The text with every markdown table's header row blanked: its cells name columns, not things."""
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if _TABLE_SEPARATOR.match(lines[i]) and "|" in lines[i - 1]:
            lines[i - 1] = " " * len(lines[i - 1])
    return "\n".join(lines)


def entity_spans(text: str) -> set[str]:
    """Capitalised spans, leaving out single words that only open a sentence or a table cell ("Nobody
    knows ...", "| Description |") since a capital there says nothing about a name, single function words
    or layout labels, and table header rows."""
    text = _without_table_headers(text.translate(APOSTROPHES))
    spans: set[str] = set()
    for m in _SPAN.finditer(text):
        span = " ".join(m.group(0).split())
        words = words_of(span)
        if not words:
            continue
        if len(words) == 1:
            if words[0] in ALL_STOP_WORDS or words[0] in LAYOUT_LABELS or len(words[0]) < 2:
                continue
            line_start = text.rfind("\n", 0, m.start()) + 1
            if _SENTENCE_START.search(text[max(line_start, m.start() - 40) : m.start()]) or m.start() == line_start:
                continue
        spans.add(span)
    return spans


def measure(text: str, source: str) -> Faithfulness:
    """All four measures for one output against its source document."""
    src_words = words_of(source)
    src_set = set(src_words)
    lang = language_of(src_words)
    spelled = NUMBER_WORDS[lang] if lang == "en" else {**NUMBER_WORDS["en"], **NUMBER_WORDS[lang]}
    src_values = set().union(*numbers_of(source, skip_markers=False).values()) | {spelled[w] for w in src_set
                                                                                   if w in spelled}
    out_numbers = numbers_of(text, skip_markers=True)
    invented_numbers = sorted({_display_number(t, out_numbers) for t in out_numbers if not out_numbers[t] & src_values},
                              key=lambda s: (len(s), s))
    src_joined = f" {' '.join(src_words)} "
    src_stems = {_stem(w) for w in src_set}
    invented_entities = []
    for span in sorted(entity_spans(text)):
        words = words_of(span)
        if len(words) == 1:
            present = words[0] in src_set or _stem(words[0]) in src_stems
        else:
            # A multi-word name counts as present when the whole span, or every capitalised word of
            # it, occurs in the source ("River Nile" is fine when the source says "the Nile river").
            present = f" {' '.join(words)} " in src_joined or all(
                w in src_set or _stem(w) in src_stems for w in words if w not in ALL_STOP_WORDS and w not in _CONNECTORS)
        if not present:
            invented_entities.append(span)
    out_words = words_of(text)
    src_content = content_words(src_words, lang)
    recall = None
    if src_content:
        out_content = {_stem(w) for w in out_words}
        recall = round(len(src_content & out_content) / len(src_content), 4)
    novelty = None
    out_grams = [tuple(out_words[i : i + 3]) for i in range(len(out_words) - 2)]
    if out_grams:
        src_grams = {tuple(src_words[i : i + 3]) for i in range(len(src_words) - 2)}
        novelty = round(sum(g not in src_grams for g in out_grams) / len(out_grams), 4)
    return Faithfulness(tuple(invented_numbers), tuple(invented_entities), recall, novelty)


def _display_number(token: str, numbers: dict[str, frozenset[str]]) -> str:
    """How an invented number is listed: its value when it has one reading ("6650" for "6,650"), else as
    written; distinct spellings of one value are listed once."""
    vals = numbers[token]
    return next(iter(vals)) if len(vals) == 1 else token


# ---- contract thresholds --------------------------------------------------------------------------
# (contract field, measure column, direction, reason wording)
# Content recall first: an output that keeps nothing of its source is rejected for that, whatever it invented.
THRESHOLDS: tuple[tuple[str, str, str, str], ...] = (
    ("min_content_recall", "content_recall", "min", "content recall"),
    ("max_invented_numbers", "invented_numbers", "max", "invented numbers"),
    ("max_invented_entities", "invented_entities", "max", "invented entities"),
    ("max_novelty", "novelty_3gram", "max", "3-gram novelty"),
)
RULE_PREFIX = "faithfulness"


def violation(limits: Any, f: Faithfulness) -> tuple[str, str] | None:
    """(rule, reason) of the first faithfulness threshold the output breaks, or None. `limits` is a
    mapping of threshold names (postprocess/floor.effective_limits) or an object with them as attributes.

    Reasons read "faithfulness: 3 invented numbers > max 1" so `rephraser stats` can recover the rule
    (faithfulness:invented_numbers) from the stored reason, like every other contract rule.
    """
    cols = f.columns()
    for field_name, column, direction, wording in THRESHOLDS:
        limit = limits.get(field_name) if isinstance(limits, dict) else getattr(limits, field_name, None)
        value = cols[column]
        if limit is None or value is None:
            continue
        if direction == "max" and value > limit:
            shown = ", ".join(f.invented_numbers if column == "invented_numbers" else f.invented_entities)[:80] \
                if column.startswith("invented") else ""
            detail = f" ({shown})" if shown else ""
            return f"{RULE_PREFIX}:{column}", f"{RULE_PREFIX}: {value:g} {wording} > max {limit:g}{detail}"
        if direction == "min" and value < limit:
            return f"{RULE_PREFIX}:{column}", f"{RULE_PREFIX}: {wording} {value:.2f} < min {limit:g}"
    return None


def rule_of_reason(reason: str) -> str | None:
    """The faithfulness rule behind a stored reason, or None when it is not a faithfulness reason."""
    if not reason.startswith(f"{RULE_PREFIX}:"):
        return None
    body = reason[len(RULE_PREFIX) + 1 :]
    for _, column, _, wording in THRESHOLDS:
        if wording in body:
            return f"{RULE_PREFIX}:{column}"
    return RULE_PREFIX


# ---- aggregation for `rephraser stats` ------------------------------------------------------------
class FaithfulnessSummary:
    """Streaming per-group aggregate of the row measures (ok rows)."""

    def __init__(self) -> None:
        self.rows = 0
        self.with_invented_numbers = 0
        self.with_invented_entities = 0
        self.sums = {"invented_numbers": 0.0, "invented_entities": 0.0, "content_recall": 0.0, "novelty_3gram": 0.0}
        self.counts = dict.fromkeys(self.sums, 0)

    def add(self, cols: dict[str, Any]) -> None:
        self.rows += 1
        self.with_invented_numbers += (cols.get("invented_numbers") or 0) > 0
        self.with_invented_entities += (cols.get("invented_entities") or 0) > 0
        for k in self.sums:
            v = cols.get(k)
            if v is not None:
                self.sums[k] += float(v)
                self.counts[k] += 1

    def finish(self) -> dict[str, Any]:
        if not self.rows:
            return {"rows": 0}
        return {
            "rows": self.rows,
            "invented_number_rate": round(self.with_invented_numbers / self.rows, 4),
            "invented_entity_rate": round(self.with_invented_entities / self.rows, 4),
            **{f"mean_{k}": round(self.sums[k] / self.counts[k], 4) if self.counts[k] else None for k in self.sums},
        }
