"""Numbered lines count up: "1. 2. 3." is a list, "8. 8. 8. 9." is not.

Under a grammar that only asks for "<digits>. " a 135M model numbered tutorial steps "8. 8. 8. 9."
(issue 25). The layouts now spell the numbers in order (prompts/layouts.py); this check holds every
output to the same rule, with or without a grammar: each numbered line's number is the previous one
plus 1, or 1 (a new list may start, e.g. under a second heading).
"""

from __future__ import annotations

import re

# a number opening a line, after optional markdown decoration: "1. ", "2) ", "**3.** ", "- 4. "
_NUMBERED = re.compile(r"^\s*(?:[-*+>]\s+)?(?:\*\*)?(\d{1,3})[.)](?:\*\*)?\s")


def numbering_problem(text: str) -> str | None:
    """'numbering out of order: 8 after 8' for the first numbered line that does not count up, else None."""
    previous: int | None = None
    for line in text.splitlines():
        m = _NUMBERED.match(line)
        if not m:
            continue
        n = int(m.group(1))
        expected = 1 if previous is None else previous + 1
        if n != expected and n != 1:
            return f"numbering out of order: {n} after {previous}" if previous else f"numbering starts at {n}"
        previous = n
    return None
