"""Next-token sampling from one row of logits (temperature, top-k, top-p) with a seeded RNG.

Done in numpy rather than with llama.cpp's sampler chain so that every sequence in a batch carries
its own RNG: a document's output then depends only on its own seed, not on its batch neighbours.
"""

from __future__ import annotations

import numpy as np

from rephraser.engines.base import Sampling


def make_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)


def sample_token(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator) -> int:
    """Pick one token id; temperature 0 means greedy."""
    if sampling.temperature <= 0:
        return int(np.argmax(logits))
    n = logits.shape[0]
    k = sampling.top_k
    if 0 < k < n:
        ids = np.argpartition(logits, n - k)[n - k :]
        vals = logits[ids].astype(np.float64)
    else:
        ids = np.arange(n)
        vals = logits.astype(np.float64)
    vals /= sampling.temperature
    vals -= vals.max()
    probs = np.exp(vals)
    probs /= probs.sum()
    if sampling.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cum = np.cumsum(probs[order])
        cut = int(np.searchsorted(cum, sampling.top_p)) + 1  # smallest prefix with mass >= top_p
        keep = order[:cut]
        ids, probs = ids[keep], probs[keep] / probs[keep].sum()
    cdf = np.cumsum(probs)
    pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return int(ids[min(pick, len(ids) - 1)])
