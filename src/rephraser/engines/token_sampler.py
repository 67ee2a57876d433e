"""Next-token sampling from one row of logits (repetition penalty, structure mask, temperature, top-k,
top-p) with a seeded RNG.

Done in numpy rather than with llama.cpp's sampler chain so that every sequence in a batch carries
its own RNG and its own constraint state: a document's output then depends only on its own seed (and
structure), not on its batch neighbours.
"""

from __future__ import annotations

import numpy as np

from rephraser.engines.base import Sampling

PENALTY_WINDOW = 64  # generated tokens the repetition penalty looks back over (llama.cpp's default window)


def make_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)


def sample_token(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator, *,
                 allowed: np.ndarray | None = None, history: list[int] | None = None) -> int:
    """Pick one token id; temperature 0 means greedy.

    `allowed` (bool per token) masks tokens a structure forbids before anything else, so top-k/top-p
    pick among permitted tokens. `history` (generated ids) feeds the CTRL-style repetition penalty:
    the logit of a recently generated token is divided by the penalty (multiplied when negative). Only
    generated tokens count: penalising the prompt would push a rewrite away from the document's words.
    """
    if allowed is not None or (sampling.repetition_penalty != 1.0 and history):
        logits = logits.astype(np.float32, copy=True)
        if sampling.repetition_penalty != 1.0 and history:
            ids = np.unique(np.asarray(history[-PENALTY_WINDOW:], dtype=np.int64))
            vals = logits[ids]
            logits[ids] = np.where(vals > 0, vals / sampling.repetition_penalty, vals * sampling.repetition_penalty)
        if allowed is not None:
            logits[~allowed] = -np.inf
    if sampling.temperature <= 0:
        return int(np.argmax(logits))
    n = logits.shape[0]
    k = sampling.top_k
    if allowed is not None:
        k = min(k, int(allowed.sum())) if k > 0 else int(allowed.sum())
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
