"""Units cut mid-word: the measure behind "no ok row is cut mid-word".

Fixed character caps in a grammar end a unit wherever the cap falls ("...general re",
"| Global Navigation Satell |"). An explainable test per unit (a line without its label, or a table
cell): its last word is cut when it is not a word that occurs anywhere else (the source, the rest of the
output, a lexicon when one is given, or a short list of common words of the three source languages) AND
the unit stops without sentence punctuation and either the word begins a longer word the texts use
("Satell" of "Satellite") or a lexicon is given; a unit that does end with punctuation counts only when
a lexicon is given and the word begins a longer one ("general re."). Numbers and one-letter words never
count.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_END_PUNCT = re.compile(r"[.!?:;…)\]\"'»”]\s*$")
_LABEL = re.compile(r"^\s*(?:[-*+•>#]+\s*)?(?:\d{1,3}[.)]\s*|[^\W\d_]{1,12}(?:\s[^\W\d_]{1,12})?\s*\d{0,3}\s?:\s*)?")
# Short words that end sentences often and may be absent from a short source.
_COMMON = frozenset("""a an the of to in on at by for is are was be it its as or and yes no not so this that them
    le la les un une des de du et en est au aux il elle ils oui non pas ce cette
    el los las una y es al lo su sus si no""".split())  # noqa: SIM905


def unit_ends(text: str) -> list[str]:
    """The units of an output whose ends are checked: label-free lines, and each table cell."""
    out: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or set(s) <= set("|-: "):
            continue
        if s.startswith("|"):
            out += [c.strip() for c in s.strip("|").split("|") if c.strip()]
        else:
            body = _LABEL.sub("", s, count=1).strip()
            if body:
                out.append(body)
    return out


def cut_units(text: str, source: str, lexicon: Collection[str] = ()) -> list[str]:
    """The units of `text` that end inside a word (as written, for reading them by eye).

    `lexicon`: known words (lower case), e.g. every word of the embedded Wikipedia extracts; with it, a
    unit that stops without punctuation on a word the lexicon lacks counts too. Without it only the
    prefix test counts (no false alarms on a short source, but fragments like "re" may pass)."""
    counts: dict[str, int] = {}
    for w in _WORD.findall(source.lower()) + _WORD.findall(text.lower()):
        counts[w] = counts.get(w, 0) + 1
    cut = []
    for u in unit_ends(text):
        words = _WORD.findall(u.lower())
        if not words or not (u.rstrip()[-1:].isalpha() or _END_PUNCT.search(u)):
            continue  # ends with a digit or a symbol: not a word
        last = words[-1]
        if len(last) < 2 or last in _COMMON or counts.get(last, 0) > 1 or last in lexicon:
            continue  # a word used elsewhere too (source, output, lexicon) is a word
        longer = any(w != last and w.startswith(last) for w in counts)
        if _END_PUNCT.search(u):  # "cover?" beside "covers" is a word: only an unknown one counts
            if lexicon and longer:
                cut.append(u)
        elif longer or lexicon:
            cut.append(u)
    return cut
