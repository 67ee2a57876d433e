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
`rephraser stats`. Thresholds in a prompt's contract (max_invented_numbers, ...) use `violation()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Our own short list: function words and the commonest verbs; enough to keep recall about content.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor
    not now of off on once only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves one two
    many much may might must shall also well like used use known called""".split()  # noqa: SIM905 - a word list reads best as text
)
# Labels that layouts put in capitals; they are structure, not entities.
LAYOUT_LABELS = frozenset(
    """q a question questions answer answers problem solution step steps teacher student students faq table
    note notes summary final total example conclusion introduction yes no true false""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# A number: digits with optional thousands separators and decimals ("6,650", "3.5", "1990").
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w,.])\d+(?:\.\d+)?")
# List / label numbering that is layout, not content: "1.", "2)", "Step 3", "Q4:", "Question 5:".
_LIST_MARKER = re.compile(r"(?m)^\s*(?:[-*+#>]\s*)*(?:\*\*)?\d{1,3}[.)](?=\s)|\b(?:step|q|question|answer|a|part)\s*\d{1,3}\b",
                          re.IGNORECASE)
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "dozen": "12",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "half": "0.5",
}
# A capitalised span: capitalised words, optionally joined by short lowercase connectors.
_CAP = r"[A-Z][\w'’\-]*"
_SPAN = re.compile(rf"{_CAP}(?:\s+(?:(?:of|the|de|la|le|von|van|der|du|da)\s+)*{_CAP})*")


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


def _norm_number(s: str) -> str:
    s = s.replace(",", "")
    if "." in s:
        s = s.rstrip("0").rstrip(".") or "0"
    return s.lstrip("0") or "0"


def numbers_of(text: str, *, skip_markers: bool) -> set[str]:
    if skip_markers:
        text = _LIST_MARKER.sub(" ", text)
    return {_norm_number(m.group(0)) for m in _NUMBER.finditer(text)}


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stem(w: str) -> str:
    # Crude plural folding so "rivers" recalls "river"; good enough for a recall ratio.
    return w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w


def content_words(words: list[str]) -> set[str]:
    return {_stem(w) for w in words if len(w) >= 3 and w.isalpha() and w not in STOP_WORDS}


# What may precede a sentence start: line start, end punctuation, a colon (labels "A:"), list markers.
_SENTENCE_START = re.compile(r"(?:^|[.!?:]|^\s*(?:[-*+>#|]|\d{1,3}[.)])+)[\s*_\"'(]*$", re.MULTILINE)


def entity_spans(text: str) -> set[str]:
    """Capitalised spans, leaving out single words that only open a sentence ("Nobody knows ...") since a
    capital there says nothing about a name, and single function words or layout labels."""
    spans: set[str] = set()
    for m in _SPAN.finditer(text):
        span = " ".join(m.group(0).split())
        words = words_of(span)
        if not words:
            continue
        if len(words) == 1:
            if words[0] in STOP_WORDS or words[0] in LAYOUT_LABELS or len(words[0]) < 2:
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
    src_numbers = numbers_of(source, skip_markers=False) | {_NUMBER_WORDS[w] for w in src_set if w in _NUMBER_WORDS}
    invented_numbers = sorted(numbers_of(text, skip_markers=True) - src_numbers, key=lambda s: (len(s), s))
    src_joined = f" {' '.join(src_words)} "
    invented_entities = []
    for span in sorted(entity_spans(text)):
        words = words_of(span)
        if len(words) == 1:
            present = words[0] in src_set or _stem(words[0]) in {_stem(w) for w in src_set}
        else:
            # A multi-word name counts as present when the whole span, or every capitalised word of
            # it, occurs in the source ("River Nile" is fine when the source says "the Nile river").
            present = f" {' '.join(words)} " in src_joined or all(
                w in src_set for w in words if w not in STOP_WORDS and w not in {"de", "la", "le", "von", "van", "der", "du", "da"})
        if not present:
            invented_entities.append(span)
    out_words = words_of(text)
    src_content = content_words(src_words)
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


# ---- contract thresholds --------------------------------------------------------------------------
# (contract field, measure column, direction, reason wording)
THRESHOLDS: tuple[tuple[str, str, str, str], ...] = (
    ("max_invented_numbers", "invented_numbers", "max", "invented numbers"),
    ("max_invented_entities", "invented_entities", "max", "invented entities"),
    ("min_content_recall", "content_recall", "min", "content recall"),
    ("max_novelty", "novelty_3gram", "max", "3-gram novelty"),
)
RULE_PREFIX = "faithfulness"


def violation(contract: Any, f: Faithfulness) -> tuple[str, str] | None:
    """(rule, reason) of the first faithfulness threshold the output breaks, or None.

    Reasons read "faithfulness: 3 invented numbers > max 1" so `rephraser stats` can recover the rule
    (faithfulness:invented_numbers) from the stored reason, like every other contract rule.
    """
    cols = f.columns()
    for field_name, column, direction, wording in THRESHOLDS:
        limit = getattr(contract, field_name, None)
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
