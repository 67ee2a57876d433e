"""Numbers in text, read the way English, French and Spanish write them, and the numbering that is layout.

A number is kept with every value it may stand for: "6,650" is 6650 in English but 6.65 where the comma
is a decimal mark, "4 401" (a normal, non-breaking or thin space between groups) is 4401, "3,5" is 3.5,
"1.234,5" is 1234.5. An output number counts as present in its source when any of its readings is a
reading of a source number, so the measure never calls a number invented only because the two texts
write it differently.

Layout numbering is not content and is left out of an output's numbers: list markers at a line start
("1.", "2)", "(3)"), labels with a number ("Step 2", "Q3:", "Étape 4", "Paso 1"), bracketed numbering
("[1]"), and a table's first column when it only counts its rows ("| 1 | GEO |").
"""

from __future__ import annotations

import re

# Digits, then groups joined by a comma, a point, or a space-like character followed by exactly 3 digits.
_SPACES = " \u00a0\u202f\u2009"
NUMBER = re.compile(rf"(?<!\w)\d+(?:(?:[,.]\d+)|(?:[{_SPACES}]\d{{3}}(?!\d)))*")
_MARKER_PATTERNS = (
    # "1." / "2)" / "(3)" / "**4.**" opening a line, after optional bullets or quote marks
    r"^\s*(?:[-*+#>|]\s*)*(?:\*\*)?\(?\d{1,3}[.)](?=[\s*])",
    # a label word followed by its number: "Step 2", "Question 5", "Étape 3", "Paso 1", "Pregunta 2"
    r"\b(?:step|question|answer|part|étape|etape|question|réponse|reponse|problème|probleme|paso|pregunta|"
    r"respuesta|problema|ejercicio|exercice)\s*\d{1,3}\b",
    # a one-letter label with its number: "Q3", "A2:", "Q 4:", "P1:", "R 2 :" (not the article in "a 42,000")
    r"\b[QAPRqapr]\d{1,3}\b|\b[QAPRqapr]\s+\d{1,3}\s*(?=[:)])",
    # bracketed numbering "[1]"
    r"\[\d{1,3}\]",
)
_MARKERS = re.compile("|".join(f"(?:{p})" for p in _MARKER_PATTERNS), re.IGNORECASE | re.MULTILINE)
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")
_SEPARATOR_CELL = re.compile(r"^\s*:?-{2,}:?\s*$")


def _norm(digits: str) -> str:
    """Canonical form of a plain decimal: no leading zeros, no trailing fractional zeros."""
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".") or "0"
    return digits.lstrip("0") or "0"


def readings(token: str) -> frozenset[str]:
    """Every value the written number may stand for, canonical (see the module doc)."""
    t = re.sub(f"[{_SPACES}]", " ", token)
    if " " in t:  # space-grouped thousands, perhaps with a decimal part: "4 401", "4 401,5"
        m = re.fullmatch(r"([\d ]+)(?:[,.](\d+))?", t)
        if m is None:  # an odd mix such as "1,5 000": its parts
            return frozenset(_norm(g) for g in re.split(r"[ ,.]", t) if g)
        whole, frac = m.group(1).replace(" ", ""), m.group(2)
        return frozenset({_norm(f"{whole}.{frac}" if frac else whole)})
    seps = re.findall(r"[,.]", t)
    groups = re.split(r"[,.]", t)
    if not seps:
        return frozenset({_norm(t)})
    if len(set(seps)) == 2:  # "1,234.5" or "1.234,5": the last separator is the decimal mark
        dec = seps[-1]
        whole, frac = t.rsplit(dec, 1)
        return frozenset({_norm(re.sub(r"[,.]", "", whole) + "." + frac)})
    if len(seps) > 1:  # one separator used several times: thousands when every later group has 3 digits
        if all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3:
            return frozenset({_norm("".join(groups))})
        return frozenset(_norm(g) for g in groups)  # "1.2.3", a version or a list: its parts
    whole, frac = groups
    decimal = _norm(f"{whole}.{frac}")
    if len(frac) == 3 and 1 <= len(whole) <= 3:  # "6,650" / "4.401": thousands or decimals, by convention
        return frozenset({_norm(whole + frac), decimal})
    return frozenset({decimal})


def _row_counter_cells(text: str) -> list[tuple[int, int]]:
    """(start, end) of first-column table cells that only number the rows 1, 2, 3 ... (or 0, 1, 2 ...)."""
    spans: list[tuple[int, int]] = []
    block: list[tuple[int, str]] = []
    pos = 0
    lines = text.splitlines(keepends=True)
    for i, line in enumerate([*lines, ""]):
        if i < len(lines) and _TABLE_LINE.match(line):
            block.append((pos, line))
        else:
            spans += _counter_column(block)
            block = []
        if i < len(lines):
            pos += len(line)
    return spans


def _counter_column(block: list[tuple[int, str]]) -> list[tuple[int, int]]:
    rows = [(start, line) for start, line in block
            if not all(_SEPARATOR_CELL.match(c) for c in line.strip().strip("|").split("|"))]
    if len(block) >= 2 and len(rows) < len(block):  # a header row above a separator: not numbered
        rows = rows[1:]
    cells = []
    for start, line in rows:
        first = line.index("|") + 1
        end = line.find("|", first)
        cell = line[first:end]
        if not cell.strip().isdigit():
            return []
        cells.append((start + first, start + end, int(cell.strip())))
    values = [v for _, _, v in cells]
    if not values or values[0] not in (0, 1) or values != list(range(values[0], values[0] + len(values))):
        return []
    return [(a, b) for a, b, _ in cells]


def strip_layout_numbering(text: str) -> str:
    """The text with layout numbering blanked out (same length, so positions still match)."""
    chars = list(text)
    for a, b in _row_counter_cells(text):
        chars[a:b] = " " * (b - a)
    blanked = "".join(chars)
    return _MARKERS.sub(lambda m: " " * len(m.group(0)), blanked)


def number_tokens(text: str, *, skip_layout: bool) -> list[str]:
    """The numbers written in `text` as they are written (layout numbering left out when asked)."""
    if skip_layout:
        text = strip_layout_numbering(text)
    return [m.group(0) for m in NUMBER.finditer(text)]
