"""A size cap on completions: an engine that ignores max_tokens (a misconfigured server, a broken stop
condition) must cost a rejected row, not minutes of post-processing per document or gigabytes of Parquet.

A completion is over the cap when the engine reports more than TOKEN_FACTOR x max_tokens completion
tokens (+ a little slack for engines that count special tokens), or when its text is longer than
BYTES_PER_TOKEN bytes per allowed token (no tokenizer's token is that long; floor MIN_CAP_BYTES). Such a
completion is rejected with the reason naming both numbers, and only its head is stored as the raw
text, marked as cut. Checked before the contract runs, so the cost is one length check.
"""

from __future__ import annotations

TOKEN_FACTOR = 2
TOKEN_SLACK = 16
BYTES_PER_TOKEN = 64
MIN_CAP_BYTES = 64 * 1024
KEEP_CHARS = 4096  # how much of an oversized completion's text the rejected row keeps


def cap_bytes(max_tokens: int) -> int:
    return max(MIN_CAP_BYTES, BYTES_PER_TOKEN * max_tokens)


def oversize(text: str, completion_tokens: int, max_tokens: int) -> str | None:
    """Why the completion is over the cap, or None when it is within it."""
    limit_tokens = TOKEN_FACTOR * max_tokens + TOKEN_SLACK
    if completion_tokens > limit_tokens:
        return f"completion too long: {completion_tokens:,} tokens > cap {limit_tokens:,} ({TOKEN_FACTOR} x max_tokens)"
    limit = cap_bytes(max_tokens)
    if len(text) > limit // 4:  # characters are at most 4 bytes: only a long text needs encoding
        n = len(text.encode("utf-8", "replace"))
        if n > limit:
            return f"completion too large: {n:,} bytes > cap {limit:,} ({BYTES_PER_TOKEN} bytes x max_tokens)"
    return None


def clipped(text: str) -> str:
    """The head of an oversized completion, marked as cut, for the rejected row's raw text."""
    if len(text) <= KEEP_CHARS:
        return text
    return f"{text[:KEEP_CHARS]}\n[... cut by rephraser: {len(text):,} characters in all]"
