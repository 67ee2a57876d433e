"""Repeated units: an output whose questions, answers, steps or table rows repeat is refused, and so is a
table row that writes one cell in every column ("| femelle | femelle | femelle | femelle |": read by hand
in grounded tables, such rows pass the row check and carry no data).

A 135M model under a grammar can fill every slot with the same line ("Q: [Question]..." three times);
the layout is then perfect and the content is one unit. A grammar cannot compare two spans, so the
check runs after decoding, beside the format validator (prompts/validators.validate).
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^\s*(?:[-*+•>#]+\s*)?(?:\d{1,3}[.)]\s*|[^\W\d_]{1,12}\s*\d{0,3}\s?:\s*)?", re.UNICODE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
MIN_WORDS = 3  # shorter units ("A: Yes.", "| 1990 |") repeat legitimately


def units(text: str) -> list[str]:
    """Lines (labels, numbering and table pipes removed), normalised to lower-case words."""
    out = []
    for line in text.splitlines():
        body = _LABEL.sub("", line.strip(), count=1)
        norm = " ".join(_NON_WORD.sub(" ", body.lower()).split())
        if len(norm.split()) >= MIN_WORDS:
            out.append(norm)
    return out


def same_cells(line: str) -> str | None:
    """The cell of a table row (3+ cells; 2 may be a name and its value) whose cells are all alike, else None."""
    if line.count("|") < 2 or set(line.strip()) <= set("|-: "):  # not a row, or the header separator
        return None
    cells = [" ".join(_NON_WORD.sub(" ", c.lower()).split()) for c in line.strip().strip("|").split("|")]
    if len(cells) >= 3 and cells[0] and all(c == cells[0] for c in cells):
        return cells[0]
    return None


def repeated_unit(text: str) -> str | None:
    """'repeated unit: "..."' for the first unit seen twice, 'repeated cells: "..."' for a table row of one
    cell, else None."""
    for line in text.splitlines():
        cell = same_cells(line)
        if cell is not None:
            shown = cell if len(cell) <= 40 else cell[:37] + "..."
            return f'repeated cells: "{shown}" in every column'
    seen: set[str] = set()
    for u in units(text):
        if u in seen:
            shown = u if len(u) <= 40 else u[:37] + "..."
            return f'repeated unit: "{shown}"'
        seen.add(u)
    return None
