"""Word lists the faithfulness measures need, for the languages the embedded sources ship (English,
French, Spanish): function words, number words, layout labels, elided articles, and capital letters
beyond ASCII. Our own short lists: enough to keep content recall about content and to read numbers
written as words; they are not a linguistic resource.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# noqa notes: a word list reads best as text, hence str.split() on literals.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """a about above after again against all also am an and any are as at be because been before being below
        between both but by can could did do does doing down during each few for from further had has have having
        he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
        nor not now of off on once only or other our ours ourselves out over own same she should so some such than
        that the their theirs them themselves then there these they this those through to too under until up very
        was we were what when where which while who whom why will with would you your yours yourself yourselves
        one two many much may might must shall well like used use known called""".split()),  # noqa: SIM905
    "fr": frozenset(
        """le la les l un une des du de d et ou mais donc ni car à au aux en dans par pour sur sous avec sans chez
        entre vers contre ce cet cette ces c ça cela ceci celui celle ceux celles qui que qu quoi dont où il ils
        elle elles on je j tu nous vous me m te t se s lui leur leurs son sa ses mon ma mes ton ta tes notre nos
        votre vos y ne n pas plus moins très aussi bien tout tous toute toutes autre autres même mêmes est sont
        était étaient été être a ont avait avaient avoir fait faire peut peuvent sera seront comme si quand
        lorsque lorsqu puis ainsi alors après avant depuis pendant selon jusqu jusque lors parmi également
        notamment dit dite dits dites aujourd hui ici là encore déjà toujours souvent non oui""".split()),  # noqa: SIM905
    "es": frozenset(
        """el la los las lo un una unos unas de del al a en y e o u ni pero sino que quien cual cuyo cuya como
        cuando donde por para con sin sobre entre hasta desde hacia según tras durante mediante es son fue fueron
        era eran ser sido siendo está están estaba estar ha han había haber hay se su sus le les me te nos os mi
        mis tu tus nuestro nuestra este esta estos estas ese esa esos esas aquel aquella esto eso muy más menos
        también tan tanto todo toda todos todas otro otra otros otras mismo misma cada ya no sí así sus dicho
        dicha conocido conocida llamado llamada""".split()),  # noqa: SIM905
}
ALL_STOP_WORDS = frozenset().union(*STOP_WORDS.values())

_NUMBER_WORDS_EN = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "dozen": "12",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "half": "0.5",
}
_NUMBER_WORDS_FR = {
    "zéro": "0", "un": "1", "une": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "six": "6",
    "sept": "7", "huit": "8", "neuf": "9", "dix": "10", "onze": "11", "douze": "12", "treize": "13",
    "quatorze": "14", "quinze": "15", "seize": "16", "vingt": "20", "trente": "30", "quarante": "40",
    "cinquante": "50", "soixante": "60", "cent": "100", "cents": "100", "mille": "1000", "million": "1000000",
    "millions": "1000000", "milliard": "1000000000", "milliards": "1000000000", "premier": "1", "première": "1",
    "deuxième": "2", "troisième": "3", "quatrième": "4", "cinquième": "5", "moitié": "0.5", "douzaine": "12",
}
_NUMBER_WORDS_ES = {
    "cero": "0", "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6",
    "siete": "7", "ocho": "8", "nueve": "9", "diez": "10", "once": "11", "doce": "12", "trece": "13",
    "catorce": "14", "quince": "15", "veinte": "20", "treinta": "30", "cuarenta": "40", "cincuenta": "50",
    "sesenta": "60", "setenta": "70", "ochenta": "80", "noventa": "90", "cien": "100", "ciento": "100",
    "mil": "1000", "millón": "1000000", "millones": "1000000", "primero": "1", "primera": "1", "segundo": "2",
    "segunda": "2", "tercero": "3", "tercera": "3", "mitad": "0.5", "docena": "12",
}
# A source word found here counts as that number being in the source ("eleven" covers an output's "11");
# per language, since "once" is 11 only in Spanish.
NUMBER_WORDS: dict[str, dict[str, str]] = {"en": _NUMBER_WORDS_EN, "fr": _NUMBER_WORDS_FR, "es": _NUMBER_WORDS_ES}

# Labels that layouts put in capitals (FAQ, table headers, problem/solution, steps); structure, not entities.
LAYOUT_LABELS = frozenset(
    """q a question questions answer answers problem solution step steps teacher student students faq table
    note notes summary final total example conclusion introduction yes no true false header headers column
    columns row rows description value values name names item items category type key fact facts data title
    detail details information info feature features property properties number date year
    r p réponse réponses problème solution étape étapes énoncé tableau colonne ligne valeur nom exemple résumé
    pregunta preguntas respuesta respuestas problema solución paso pasos tabla columna fila valor nombre
    ejemplo resumen""".split()  # noqa: SIM905
)

# French (and Italian-style) elided words: "l'Europe" is the word "Europe" after an article.
ELISIONS = frozenset("l d j m n s t c qu jusqu lorsqu puisqu quoiqu presqu".split())  # noqa: SIM905
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "`": "'", "\u00b4": "'"})


def _upper_class() -> str:
    """A regex character class body of the capital letters of the Latin, Greek and Cyrillic scripts."""
    ranges = [(0x41, 0x5A), (0xC0, 0x24F), (0x370, 0x52F), (0x1E00, 0x1EFF)]
    return "".join(chr(c) for lo, hi in ranges for c in range(lo, hi + 1) if chr(c).isupper())


UPPER = _upper_class()


def fold(word: str) -> str:
    """Lowercase without accents, so "Etats" in an output matches "États" in its source."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Every list is compared with folded words (words_of folds them too).
STOP_WORDS = {lang: frozenset(fold(w) for w in words) for lang, words in STOP_WORDS.items()}
ALL_STOP_WORDS = frozenset().union(*STOP_WORDS.values())
NUMBER_WORDS = {lang: {fold(w): v for w, v in words.items()} for lang, words in NUMBER_WORDS.items()}
LAYOUT_LABELS = frozenset(fold(w) for w in LAYOUT_LABELS)


def language_of(words: Iterable[str]) -> str:
    """The language whose function words cover most of `words` (lowercased): en, fr or es; en on ties."""
    counts = dict.fromkeys(STOP_WORDS, 0)
    for w in words:
        for lang, stops in STOP_WORDS.items():
            counts[lang] += w in stops
    return max(counts, key=lambda lang: (counts[lang], lang == "en"))
