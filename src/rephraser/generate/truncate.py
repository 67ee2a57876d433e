"""Token-aware fitting of documents into a context window, cutting at natural boundaries.

The study truncated over-long inputs at a newline so the model never sees half a sentence; we prefer a
paragraph break, then a line break, then a sentence end, then a word boundary — whichever is closest
to the token budget without exceeding it. Chunking for long documents uses the same boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s")


def snap_to_boundary(text: str, cut: int, min_keep: float = 0.5) -> int:
    """Largest natural boundary <= cut that keeps at least `min_keep` of `cut` characters."""
    if cut >= len(text):
        return len(text)
    floor = int(cut * min_keep)
    window = text[:cut]
    for sep in ("\n\n", "\n"):
        i = window.rfind(sep)
        if i >= floor:
            return i + len(sep)
    last = None
    for m in _SENTENCE_END.finditer(window, floor):
        last = m.end()
    if last is not None:
        return last
    i = window.rfind(" ")
    return i + 1 if i >= floor else cut


def fit_tokens(text: str, count_tokens: Callable[[str], int], budget: int) -> tuple[str, bool]:
    """Return (text that fits in `budget` tokens, truncated?)."""
    if budget <= 0:
        return "", bool(text)
    n = count_tokens(text)
    if n <= budget:
        return text, False
    # Estimate the cut from the document's own chars-per-token, then shrink until it fits.
    cut = int(len(text) * budget / n * 0.97)
    while cut > 0:
        end = snap_to_boundary(text, cut)
        piece = text[:end].rstrip()
        if count_tokens(piece) <= budget:
            return piece, True
        cut = int(cut * 0.9)
    return "", True


def split_chunks(text: str, count_tokens: Callable[[str], int], chunk_tokens: int) -> list[str]:
    """Split into consecutive pieces of at most `chunk_tokens` tokens at natural boundaries."""
    chunks: list[str] = []
    rest = text
    while rest.strip():
        piece, truncated = fit_tokens(rest, count_tokens, chunk_tokens)
        if not piece:  # a single unbreakable run longer than a chunk: hard cut by characters
            piece = rest[: max(1, chunk_tokens)]
            truncated = len(piece) < len(rest)
        chunks.append(piece.strip())
        if not truncated:
            break
        rest = rest[len(piece):].lstrip()
    return [c for c in chunks if c]
