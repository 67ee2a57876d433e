"""Which language a document is written in (English, French or Spanish), and the layout labels in it.

Per-document grammars (prompts/layouts.py) write their labels in the source's language: a grammar
that forces "Problem:" on a French document pulls a 135M model into English mid-output. The guess is
deliberately simple and explainable: count a few very common function words of each language (words
that are frequent in one language and rare in the others) and take the largest count; English wins
ties and texts with no evidence. Good enough for whole paragraphs; not meant for single sentences.
"""

from __future__ import annotations

import re
from typing import Literal

Lang = Literal["en", "fr", "es"]
LANGS: tuple[Lang, ...] = ("en", "fr", "es")

# Frequent words that mostly belong to one language ("de", "la", "en" are shared: left out).
_MARKERS: dict[Lang, frozenset[str]] = {
    "en": frozenset("the and of is was which with from that this are were has have for by its".split()),  # noqa: SIM905
    "fr": frozenset("le les des est une du et dans sont qui au aux pour avec sur été ces il elle par".split()),  # noqa: SIM905
    "es": frozenset("el los las del es y una que por con para fue su sus está como son al se".split()),  # noqa: SIM905
}
# The marker words of all three languages: poor words to end a sentence on (prompts/layouts.py, `last`).
FUNCTION_WORDS: frozenset[str] = frozenset().union(*_MARKERS.values()) | frozenset(
    "a an de la en un to in on at as or it le el".split())  # noqa: SIM905
_WORD = re.compile(r"[^\W\d_]+")

# Labels of the layouts, per language. French typography puts a space before the colon.
LABELS: dict[Lang, dict[str, str]] = {
    "en": {"q": "Q: ", "a": "A: ", "question": "Question: ", "answer": "Answer: ", "problem": "Problem: ",
           "solution": "Solution:", "final": "Final answer: "},
    "fr": {"q": "Q : ", "a": "R : ", "question": "Question : ", "answer": "Réponse : ", "problem": "Problème : ",
           "solution": "Solution :", "final": "Réponse finale : "},
    "es": {"q": "P: ", "a": "R: ", "question": "Pregunta: ", "answer": "Respuesta: ", "problem": "Problema: ",
           "solution": "Solución:", "final": "Respuesta final: "},
}


# Words a question may open with, for the languages whose questions the 135M model wrote in English when left
# free (held-out grounded run: French FAQ and table questions such as "Which element ...?" under "Q : "); a
# layout makes a French or Spanish question start with one of them. English questions open freely.
QUESTION_OPENERS: dict[Lang, tuple[str, ...]] = {
    "en": (),
    "fr": ("Qu'est-ce", "Que", "Qui", "Quel", "Quelle", "Quels", "Quelles", "Lequel", "Laquelle", "Comment", "Où",
           "Quand", "Pourquoi", "Combien", "Est-ce", "À", "De", "Dans", "En", "Pour", "Par", "Le", "La", "Les"),
    "es": ("¿Qué", "¿Quién", "¿Cuál", "¿Cuáles", "¿Cómo", "¿Dónde", "¿Cuándo", "¿Por", "¿Cuánto", "¿Cuántos",
           "¿Cuántas", "¿En", "¿De", "¿El", "¿La", "¿Los", "¿Las"),
}


def detect_language(text: str) -> Lang:
    """'en', 'fr' or 'es' by counts of marker words; 'en' when nothing points elsewhere."""
    counts = dict.fromkeys(LANGS, 0)
    for w in _WORD.findall(text[:4000].lower()):
        for lang in LANGS:
            if w in _MARKERS[lang]:
                counts[lang] += 1
    best = max(LANGS, key=lambda lang: (counts[lang], lang == "en"))
    return best if counts[best] > counts["en"] else "en"
