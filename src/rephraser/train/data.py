"""Batches for proxy training, read from the shards `rephraser tokenize` writes.

The packed train stream (documents joined by EOS) is cut into consecutive windows of seq_len + 1
tokens; each epoch visits every window once in a permutation seeded by (data_seed, epoch). The batch
for step s is a pure function of (data_seed, s), so resuming at step s needs no saved sampler state
and two runs with the same seed see identical data. The global batch does not depend on how many
processes train: under torchrun each rank reads only its own rows of it (`rows(step, lo, hi)`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from rephraser.errors import SourceError
from rephraser.mix.tokenize import open_split, read_meta


class WindowBatches:
    def __init__(self, data_dir: str | Path, seq_len: int, batch_size: int, data_seed: int, split: str = "train"):
        self.tokens = open_split(data_dir, split).tokens
        self.seq_len, self.batch_size, self.data_seed = seq_len, batch_size, data_seed
        self.n_windows = (len(self.tokens) - 1) // seq_len
        if self.n_windows < 1:
            raise SourceError(
                f"{data_dir} {split} split has {len(self.tokens)} tokens, fewer than one window of {seq_len + 1}"
            )
        self._perm = lru_cache(maxsize=2)(self._permutation)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.data_seed, epoch]).permutation(self.n_windows)

    def epoch_of(self, step: int) -> float:
        return step * self.batch_size / self.n_windows

    def batch(self, step: int) -> torch.Tensor:
        """LongTensor[batch_size, seq_len + 1] of token windows for this step."""
        return self.rows(step, 0, self.batch_size)

    def rows(self, step: int, lo: int, hi: int) -> torch.Tensor:
        """Rows lo..hi-1 of step's global batch (a rank's or a micro-batch's slice); reads only those."""
        out = np.empty((hi - lo, self.seq_len + 1), dtype=np.int64)
        first = step * self.batch_size
        for i, k in enumerate(range(first + lo, first + hi)):
            epoch, pos = divmod(k, self.n_windows)
            start = int(self._perm(epoch)[pos]) * self.seq_len
            out[i] = self.tokens[start : start + self.seq_len + 1]
        return torch.from_numpy(out)


def heldout_windows(data_dir: str | Path, seq_len: int, max_tokens: int) -> torch.Tensor | None:
    """The first windows of the held-out split (fixed, so every evaluation compares like with like)."""
    meta = read_meta(data_dir)
    if meta["splits"]["heldout"]["tokens"] < seq_len + 1:
        return None
    tokens = open_split(data_dir, "heldout").tokens
    n = min((len(tokens) - 1) // seq_len, max(1, max_tokens // seq_len))
    rows = [np.asarray(tokens[i * seq_len : i * seq_len + seq_len + 1], dtype=np.int64) for i in range(n)]
    return torch.from_numpy(np.stack(rows))


def bytes_per_token(data_dir: str | Path, split: str = "heldout") -> float | None:
    """UTF-8 bytes per token of a split; EOS tokens count as tokens carrying no bytes."""
    value = read_meta(data_dir)["splits"][split]["bytes_per_token"]
    return None if value is None else float(value)
