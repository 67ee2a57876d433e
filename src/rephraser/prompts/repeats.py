"""Repeated units: an output whose questions, answers, steps or table rows repeat is refused.

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


def repeated_unit(text: str) -> str | None:
    """'repeated unit: "..."' for the first unit seen twice, else None."""
    seen: set[str] = set()
    for u in units(text):
        if u in seen:
            shown = u if len(u) <= 40 else u[:37] + "..."
            return f'repeated unit: "{shown}"'
        seen.add(u)
    return None
