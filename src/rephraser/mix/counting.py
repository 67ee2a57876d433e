"""Token counting for mixture shares.

Two documented counters:
- `bytes/4`: ceil(UTF-8 bytes / 4). Deterministic, instant, tokenizer-free; close to what English
  BPE vocabularies produce (≈4 bytes per token), so shares are right in proportion even before a
  tokenizer exists. Truncation to n tokens is exact (cut at ≤ 4n bytes on a character boundary, which
  drops < 4 bytes of a split character), so a cut's count is known without its text. Counting runs on
  Arrow arrays (`count_array`), without turning texts into Python strings.
- `tokenizer:<path>`: the length of a real tokenizer's encoding (e.g. the BPE trained for the
  proxy, or the generator's tokenizer.json). Truncation cuts at the n-th token's character offset.
The manifest records which one was used.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rephraser.mix.tokenize import load_tokenizer


class TokenCounter(Protocol):
    name: str
    exact_cuts: bool  # True when a cut to n tokens is known to count exactly n (no need to read its text)

    def count(self, texts: list[str]) -> list[int]: ...

    def count_array(self, texts: pa.Array) -> np.ndarray:
        """int64 counts of an Arrow string array (no nulls)."""
        ...

    def truncate(self, text: str, n: int) -> str:
        """The longest prefix of text counting at most n tokens (exactly n where possible)."""
        ...


class ByteEstimateCounter:
    name = "bytes/4"
    exact_cuts = True  # truncate(text, n) always counts exactly n when the text counts more than n

    def count(self, texts: list[str]) -> list[int]:
        return [math.ceil(len(t.encode("utf-8", "surrogatepass")) / 4) for t in texts]

    def count_array(self, texts: pa.Array) -> np.ndarray:
        lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
        return (lengths + 3) // 4

    def truncate(self, text: str, n: int) -> str:
        raw = text.encode("utf-8", "surrogatepass")[: 4 * n]
        # Dropping a split multi-byte character loses < 4 bytes, so the prefix still counts n tokens.
        return raw.decode("utf-8", "ignore")


class TokenizerCounter:
    exact_cuts = False  # re-encoding a cut prefix may merge differently at its end

    def __init__(self, tokenizer: Any, source: str) -> None:
        self.tokenizer = tokenizer
        self.name = f"tokenizer:{source}"

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def count_array(self, texts: pa.Array) -> np.ndarray:
        return np.asarray(self.count(texts.to_pylist()), dtype=np.int64)

    def truncate(self, text: str, n: int) -> str:
        if n <= 0:
            return ""
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) <= n:
            return text
        return text[: enc.offsets[n - 1][1]]


def make_counter(tokenizer_path: str | None) -> TokenCounter:
    if tokenizer_path is None:
        return ByteEstimateCounter()

    return TokenizerCounter(load_tokenizer(tokenizer_path), tokenizer_path)
