"""Bits per byte of a model on text sets: the held-out signal that moves even for tiny models.

bpb = -(sum of token log-probs) / (ln 2 * UTF-8 bytes). Each text is scored from the start of a
document (after the model's BOS/EOS prefix), so the value is comparable across tokenizers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rephraser.evaluate.score import ScoringModel


def bits_per_byte(model: ScoringModel, texts: Sequence[str]) -> dict[str, float]:
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("bits_per_byte needs at least one non-empty text")
    scored = model.score([("", t) for t in texts])
    logprob = sum(s[0] for s in scored)
    n_tokens = sum(s[1] for s in scored)
    n_bytes = sum(s[2] for s in scored)
    return {
        "bpb": -logprob / (n_bytes * math.log(2)),
        "token_loss": -logprob / max(1, n_tokens),  # nats per token (tokenizer-dependent)
        "n_texts": len(texts), "n_tokens": n_tokens, "n_bytes": n_bytes,
    }

