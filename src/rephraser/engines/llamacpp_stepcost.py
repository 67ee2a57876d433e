"""What a decode step costs on this machine, per micro-batch and per row: measured when the engine starts.

Prompt-lookup speculation (engines/speculation.py) feeds guessed tokens as extra rows of a decode step.
Whether that pays depends on the machine: with few sequences a step mostly reads the weights and an
extra row is nearly free; on 2 cores already decoding 8 sequences a row costs about what a real token
does. So before the first request the engine decodes a throwaway sequence (the last slot's id; no job
holds it yet) at a realistic context length with 1 up to 2×parallel rows, a few times each in an
interleaved order, and hands the timings to `StepCost.calibrate`. It takes a fraction of a second.
"""

from __future__ import annotations

import time
from typing import Any

CONTEXT = 256  # tokens the throwaway sequence holds first: attention over a context costs per row too
REPEATS = 3


def row_sizes(parallel: int, n_batch: int) -> list[int]:
    top = max(4, min(n_batch - 1, 2 * parallel + 4))
    return sorted({1, 2, max(2, parallel), max(2, parallel + parallel // 2), top})


def measure(m: Any, batch: Any, seq: int, parallel: int) -> list[tuple[int, int, float]]:
    """(ubatches, rows, seconds) of decodes of one sequence (one micro-batch each); [] if one failed."""
    lib = m.lib
    ctx = min(CONTEXT, m.ctx_per_seq - 2 * parallel - 8, m.n_batch)
    sizes = row_sizes(parallel, m.n_batch)
    if ctx < 8 or sizes[-1] + ctx >= m.ctx_per_seq:
        return []

    def fill(start: int, n: int, logits: bool = True) -> None:
        for k in range(n):
            batch.token[k] = 100 + (start + k) * 7 % 1000  # any ordinary token ids
            batch.pos[k] = start + k
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = seq
            batch.logits[k] = logits or k == n - 1  # a verify step computes every row's logits
        batch.n_tokens = n

    out: list[tuple[int, int, float]] = []
    try:
        fill(0, ctx, logits=False)
        if lib.llama_decode(m.ctx, batch) != 0:
            return []
        for rep in range(REPEATS):
            for rows in (sizes if rep % 2 == 0 else sizes[::-1]):
                fill(ctx, rows)
                t0 = time.perf_counter()
                if lib.llama_decode(m.ctx, batch) != 0:
                    return []
                out.append((1, rows, time.perf_counter() - t0))
                lib.llama_memory_seq_rm(m.memory, seq, ctx, -1)
    finally:
        lib.llama_memory_seq_rm(m.memory, seq, -1, -1)
        batch.n_tokens = 0
    return out
