"""The document facts routes are decided on: numbers, tables, lists, language — cheap, local, no model.

Each function reads the text once and returns a plain value that is recorded in the row's
`route_values`, so a reader can see why a document went where it did.
"""

from __future__ import annotations

import re

# A number is a digit run, with inner separators kept together: "1,234.5" and "3.14" count once.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+\S", re.MULTILINE)
_WORD = re.compile(r"[^\W\d_]+")

# Frequent function words per language, chosen for this detector (short words that carry no topic).
# A document is the language whose words make up the largest share of its words.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(["the", "and", "of", "to", "in", "is", "that", "it", "was", "for", "on", "are", "with", "as", "his", "they", "be", "at", "by", "this", "from", "which", "or", "have", "an", "were", "but", "not", "has", "their"]),
    "fr": frozenset(["le", "la", "les", "de", "des", "du", "et", "est", "un", "une", "dans", "que", "qui", "pour", "pas", "sur", "au", "aux", "par", "avec", "ce", "il", "elle", "sont", "été", "ses", "son", "ou", "leur"]),
    "es": frozenset(["el", "la", "los", "las", "de", "del", "y", "en", "que", "es", "un", "una", "por", "con", "para", "se", "su", "sus", "al", "como", "fue", "son", "lo", "más", "pero", "entre"]),
    "de": frozenset(["der", "die", "das", "und", "ist", "den", "dem", "des", "ein", "eine", "nicht", "mit", "von", "zu", "auf", "für", "im", "sich", "auch", "wurde", "sind", "als", "bei", "oder"]),
    "it": frozenset(["il", "lo", "la", "gli", "le", "di", "del", "della", "e", "è", "che", "un", "una", "per", "con", "non", "sono", "nel", "alla", "dei", "fu", "come", "anche", "tra"]),
    "pt": frozenset(["o", "a", "os", "as", "de", "do", "da", "dos", "das", "e", "é", "que", "um", "uma", "em", "no", "na", "para", "com", "não", "por", "foi", "são", "seu", "sua", "pelo"]),
    "nl": frozenset(["de", "het", "een", "en", "van", "is", "dat", "op", "te", "zijn", "niet", "met", "voor", "die", "er", "aan", "ook", "als", "werd", "door", "naar", "bij"]),
}
MIN_WORDS = 5  # fewer words than this: too little to tell a language
MIN_SHARE = 0.08  # below this share of function words the text is called "unknown" (code, tables, lists of names)


def count_numbers(text: str) -> int:
    return len(_NUMBER.findall(text))


def has_table(text: str) -> bool:
    """Two or more lines that split into the same number (>= 2) of cells by '|' or by tabs."""
    widths: list[int] = []
    for line in text.splitlines():
        s = line.strip()
        if s.count("|") >= 2:
            widths.append(len([c for c in s.strip("|").split("|")]))
        elif "\t" in s and len([c for c in s.split("\t") if c.strip()]) >= 2:
            widths.append(len(s.split("\t")))
    return any(widths.count(w) >= 2 and w >= 2 for w in set(widths))


def has_list(text: str) -> bool:
    """Two or more bulleted or numbered lines."""
    return len(_LIST_ITEM.findall(text)) >= 2


def detect_language(text: str) -> tuple[str, float]:
    """(language code or "unknown", share of the text's words that are that language's function words)."""
    words = [w.lower() for w in _WORD.findall(text[:20_000])]  # the head decides; long documents stay cheap
    if len(words) < MIN_WORDS:
        return "unknown", 0.0
    best, share = "unknown", 0.0
    for code, stop in STOPWORDS.items():
        s = sum(w in stop for w in words) / len(words)
        if s > share:
            best, share = code, s
    return (best, round(share, 4)) if share >= MIN_SHARE else ("unknown", round(share, 4))
