"""Tiny Markdown helpers shared by the dataset card (tables, fenced blocks, number formats)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    """A table cell: pipes escaped and newlines flattened so one value never breaks the table."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def fenced(text: str, lang: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside the text (prompts may hold ```)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def num(n: int | float | None) -> str:
    if n is None:
        return "–"
    if isinstance(n, float):
        return f"{n:,.2f}"
    return f"{n:,}"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"
