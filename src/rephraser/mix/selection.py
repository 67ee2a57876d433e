"""Which documents a component gives to the mixture, from their token counts alone.

Per component with target T (its integer share of the budget): documents are visited in a seeded
random order (numpy PCG64 seeded with [seed, i]); whole documents are taken while they fit; the
document that crosses T is cut to the tokens still needed (`truncated`), so the component gets T
tokens exactly with the bytes/4 counter and within a token or two with a real tokenizer. When a
component runs out it is repeated with a fresh permutation per epoch.

The result is index arrays (document, epoch, tokens, cut), never texts: memory is a few int64 per
document and per picked row. Only a cut needs a text (to count the cut prefix with a real
tokenizer); `cut_tokens(j, n)` supplies that count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def allocate(total: int, shares: list[float]) -> list[int]:
    """Integer token targets summing exactly to total (largest remainder)."""
    raw = [s * total for s in shares]
    base = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


@dataclass
class Picks:
    """One component's picked rows, in selection order."""

    doc: np.ndarray  # int64 document index (position in the component's stream)
    epoch: np.ndarray  # int32
    tokens: np.ndarray  # int64 tokens of the row (after a cut)
    cut_to: np.ndarray  # int64 tokens the document was cut to, or -1 when taken whole
    epochs: int  # permutations drawn

    def __len__(self) -> int:
        return len(self.doc)


def select(counts: np.ndarray, target: int, rng: np.random.Generator,
           cut_tokens: Callable[[int, int], int]) -> Picks:
    """Pick rows worth `target` tokens. cut_tokens(j, n) = the count of document j cut to n tokens."""
    n = len(counts)
    docs: list[np.ndarray] = []
    epochs_of: list[np.ndarray] = []
    toks: list[np.ndarray] = []
    cuts: list[np.ndarray] = []
    taken, epoch = 0, 0
    while taken < target:
        perm = rng.permutation(n)
        pos = 0
        while pos < n:
            remaining = target - taken
            if remaining <= 0:
                break
            seg = counts[perm[pos:]]
            cum = np.cumsum(seg)
            # Whole documents: while the running total stays within what is still needed (and, for
            # documents counting 0 tokens, only until the target is met).
            whole = min(int(np.searchsorted(cum, remaining, side="right")),
                        int(np.searchsorted(cum, remaining, side="left")) + 1)
            if whole:
                j = perm[pos : pos + whole]
                docs.append(j)
                epochs_of.append(np.full(whole, epoch, np.int32))
                toks.append(seg[:whole])
                cuts.append(np.full(whole, -1, np.int64))
                taken += int(cum[whole - 1])
                pos += whole
            if pos >= n or taken >= target:
                break
            # The next document crosses the target: cut it to what is still needed.
            j, remaining = int(perm[pos]), target - taken
            got = cut_tokens(j, remaining)
            if got == 0:  # the remaining budget is smaller than any cut the counter can make
                taken = target
                break
            docs.append(np.array([j], np.int64))
            epochs_of.append(np.array([epoch], np.int32))
            toks.append(np.array([got], np.int64))
            cuts.append(np.array([remaining], np.int64))
            taken += got
            pos += 1
        epoch += 1

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    return Picks(cat(docs, np.int64), cat(epochs_of, np.int32), cat(toks, np.int64), cat(cuts, np.int64), epoch)
