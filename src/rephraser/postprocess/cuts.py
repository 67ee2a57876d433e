"""Units cut mid-word: the test behind "no ok row is cut mid-word" (the contract refuses such rows).

A grammar cap ends a unit wherever it falls: with character caps the unit stops inside a word
("...general re", "| Global Navigation Satell |"); with word caps the 135M model glues the words it
still wanted to write into one ("...which is a similar to the" becomes "whichisasimilartothe."). The test
looks at each unit's last word (a line without its label, or a table cell) and calls the unit cut when
that word is not a word and is a piece of words:

- a word is known when the source has it, the output uses it elsewhere too, it is a common short word of
  the three source languages, or the lexicon has it (postprocess/lexicon.py: every word of the embedded
  Wikipedia extracts);
- an unknown last word is *truncated* when a known word begins with it and goes on ("satell" of
  "satellite"; for a capitalised word, a word of the two texts: the lexicon continues too many names), and *glued* when it splits into two or more known words, the last of which may itself be
  truncated ("oftheearth", "estlarg");
- a unit that ends with sentence punctuation counts only as glued: a real word the lexicon lacks is often the
  start of a longer one ("paragraph." of the French "paragraphe"), and a grammar that ends units on
  punctuation does not stop one inside a word (prompts/layouts.py); glued runs have a function word in
  them and start in lower case (names and compounds such as "anytime" are never called glued).

Never counted: numbers, URLs and e-mail addresses, abbreviations with inner dots ("U.S.", "e.g."),
one-letter words; French elisions ("l'Égypte", "jusqu'à") and English possessives are judged on the word
after or before the apostrophe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from functools import lru_cache

from rephraser.postprocess.lexicon import WORD, Lexicon, lexicon_of

_END_PUNCT = re.compile(r"[.!?:;…)\]\"'»”]\s*$")
_LABEL = re.compile(r"^\s*(?:[-*+•>#]+\s*)?(?:\d{1,3}[.)]\s*|[^\W\d_]{1,12}(?:\s[^\W\d_]{1,12})?\s*\d{0,3}\s?:\s*)?")
# Last tokens that are not words to judge: with a digit, a URL or address, an abbreviation with inner dots.
_NOT_A_WORD = re.compile(r"\d|://|^www\.|@|^(?:[^\W\d_]{1,3}\.){2,}$", re.IGNORECASE)
_ELISION = re.compile(r"^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")
# Short words that end sentences often and may be absent from a short source, and the short pieces a glued
# run is made of ("of", "the", "in"); pieces shorter than 3 letters count only when listed here.
_COMMON = frozenset("""a an the of to in on at by for is are was be it its as or and yes no not so this that them
    he she we you they his her our their has had have from with who which what when where how why all one
    etc dr mr mrs ms st vs
    le la les un une des de du et en est au aux il elle ils oui non pas ce cette ou où qui que se sa son ses
    y à ne on nous vous leur sur par
    el los las una es al lo su sus si del por con se""".split())  # noqa: SIM905
MIN_GLUED = 6  # letters: shorter unknown words are too often real rare words to call glued


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


@lru_cache(maxsize=4)
def _as_lexicon(words: frozenset[str]) -> Lexicon:
    return lexicon_of(words)


class _Known:
    """Which words count as words, and which begin longer ones, for one output and its source."""

    def __init__(self, text: str, source: str, lexicon: Callable[[], Lexicon]):
        self.counts: dict[str, int] = {}
        for w in WORD.findall(source.lower()) + WORD.findall(text.lower()):
            for part in {w, *_parts(w)}:
                self.counts[part] = self.counts.get(part, 0) + 1
        self._load = lexicon
        self._lexicon: Lexicon | None = None

    @property
    def lexicon(self) -> Lexicon:
        # loaded on first need: most outputs end every unit on a word of the two texts
        if self._lexicon is None:
            self._lexicon = self._load()
        return self._lexicon

    def word(self, w: str, *, elsewhere: bool = True) -> bool:
        """Known: common, in the texts (more than once when `elsewhere`: the unit's own last word is one
        occurrence), or in the lexicon."""
        return w in _COMMON or self.counts.get(w, 0) > (1 if elsewhere else 0) or w in self.lexicon

    def piece(self, w: str) -> bool:
        # a common word of 2+ letters or a known word of 4+: one-letter and rare short pieces split whole words
        # too easily ("an-y-time", "par-a-graph", "bou-le-ment")
        return len(w) >= 2 and (w in _COMMON or (len(w) >= 4 and self.word(w, elsewhere=False)))

    def begins_longer(self, w: str, *, texts_only: bool = False) -> bool:
        if len(w) < 2:
            return False
        if any(k != w and k.startswith(w) for k in self.counts):
            return True
        return not texts_only and self.lexicon.begins_longer(w)

    def glued(self, w: str) -> bool:
        """`w` is two or more known pieces, one a common short word and one of 4 letters or more; the last
        piece may be a truncated known word. (Compounds such as "anytime" or "sunflower" have no function
        word in them; runs of short words alone, "en-ce-in-the-que", make nonsense words too easily.)
        One-letter words are not pieces, so a run glued around "a" may pass unnoticed."""
        n = len(w)
        # reach[i]: how w[:i] splits into known pieces, as (has a common word, has a long piece) flags
        reach: list[set[tuple[bool, bool]]] = [set() for _ in range(n + 1)]
        reach[0].add((False, False))
        for i in range(1, n + 1):
            for j in range(max(0, i - 30), i):
                piece = w[j:i]
                if reach[j] and (j, i) != (0, n) and self.piece(piece):
                    reach[i].update((c or piece in _COMMON, g or i - j >= 4) for c, g in reach[j])
        if (True, True) in reach[n]:
            return True
        # known pieces with a common word, then the start of a known word ("est" + "larg")
        return any(any(c and (g or n - j >= 4) for c, g in reach[j]) and self.begins_longer(w[j:])
                   for j in range(1, n - 2))  # a cut tail of 3 letters at least: "ph" begins too many words


def _parts(w: str) -> list[str]:
    """The word judged for `w`: after an elided article, before a possessive."""
    core = _ELISION.sub("", w)
    core = _POSSESSIVE.sub("", core) if "'" in core or "’" in core else core
    return [core] if core != w else []


Words = Collection[str] | Lexicon | Callable[[], Lexicon]


def _loader(lexicon: Words) -> Callable[[], Lexicon]:
    if callable(lexicon):
        return lexicon
    lex = lexicon if isinstance(lexicon, Lexicon) else _as_lexicon(frozenset(lexicon))
    return lambda: lex


def cut_units(text: str, source: str, lexicon: Words = ()) -> list[str]:
    """The units of `text` that end inside a word (as written, for reading them by eye).

    `lexicon`: known words (lower case), or a function returning them when first needed (e.g.
    postprocess.lexicon.wiki_lexicon); without it only the two texts and the common words say what a word is."""
    known = _Known(text, source, _loader(lexicon))
    cut = []
    for u in unit_ends(text):
        tokens = u.split()
        if not tokens or _NOT_A_WORD.search(tokens[-1].strip("()[]\"'«»“”.,;:!?")):
            continue
        words = WORD.findall(u.lower())
        if not words or not (u.rstrip()[-1:].isalpha() or _END_PUNCT.search(u)):
            continue  # ends with a digit or a symbol: not a word
        last = words[-1]
        core = (_parts(last) or [last])[0]
        if len(core) < 2 or known.word(last) or known.word(core):
            continue
        punctuated = bool(_END_PUNCT.search(u))
        # a capitalised last word is a name the lexicon may lack ("Perugia."): never called glued
        written = WORD.findall(u)[-1]
        name = (_parts(written) or [written])[0][:1].isupper()
        glued = not name and len(core) >= MIN_GLUED and known.glued(core)
        # a name is truncated only next to its whole form in the texts ("Satell" beside "Satellite"): the lexicon
        # begins with many longer names ("Orla" of "Orlando")
        truncated = not punctuated and known.begins_longer(core, texts_only=name)
        if glued or truncated:
            cut.append(u)
    return cut


def cut_problem(text: str, source: str, lexicon: Words = ()) -> str | None:
    """The contract's reason for a row with a unit cut mid-word ('unit cut mid-word: "...general re"'), else None."""
    cut = cut_units(text, source, lexicon)
    if not cut:
        return None
    shown = cut[0] if len(cut[0]) <= 40 else "..." + cut[0][-37:]
    return f'unit cut mid-word: "{shown}"'
