"""What a decode step costs on this machine, measured when the embedded engine starts.

Two decisions depend on facts only this machine at this moment can tell, so the engine measures them
on a throwaway sequence (the last slot's id; no job holds it yet) holding a realistic context:

- threads (when `engine.threads` is not set): a step of `parallel` rows is timed with each candidate
  thread count, interleaved, and the fastest is kept. The busy CPUs seen at start (cpu_policy) are only
  the first guess: whether a second thread pays beside other work depends on how the scheduler shares
  the cores (priorities, autogroups), which only a measurement shows.
- the step cost for prompt-lookup speculation (engines/speculation.py): decodes of 1 up to
  2×parallel rows, handed to `StepCost.calibrate`. With few sequences a step mostly reads the weights
  and an extra (guessed) row is nearly free; on 2 cores already decoding 8 sequences a row costs about
  what a real token does.

Both take a fraction of a second.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

CONTEXT = 256  # tokens the throwaway sequence holds first: attention over a context costs per row too
REPEATS = 3


def row_sizes(parallel: int, n_batch: int) -> list[int]:
    top = max(4, min(n_batch - 1, 2 * parallel + 4))
    return sorted({1, 2, max(2, parallel), max(2, parallel + parallel // 2), top})


class _Probe:
    """Decodes on one throwaway sequence: a context first, then steps of n rows removed after timing."""

    def __init__(self, m: Any, seq: int, most_rows: int):
        self.m, self.seq = m, seq
        self.ctx = min(CONTEXT, m.ctx_per_seq - most_rows - 8, m.n_batch)
        self.ok = self.ctx >= 8
        self.batch = m.lib.llama_batch_init(max(m.n_batch, most_rows), 0, 1)

    def _fill(self, start: int, n: int, logits: bool) -> None:
        b = self.batch
        for k in range(n):
            b.token[k] = 100 + (start + k) * 7 % 1000  # any ordinary token ids
            b.pos[k] = start + k
            b.n_seq_id[k] = 1
            b.seq_id[k][0] = self.seq
            b.logits[k] = logits or k == n - 1  # a verify step computes every row's logits
        b.n_tokens = n

    def prefill(self) -> bool:
        self._fill(0, self.ctx, logits=False)
        self.ok = self.ok and self.m.lib.llama_decode(self.m.ctx, self.batch) == 0
        return self.ok

    def step(self, rows: int) -> float | None:
        self._fill(self.ctx, rows, logits=True)
        t0 = time.perf_counter()
        if self.m.lib.llama_decode(self.m.ctx, self.batch) != 0:
            return None
        seconds = time.perf_counter() - t0
        self.m.lib.llama_memory_seq_rm(self.m.memory, self.seq, self.ctx, -1)
        return seconds

    def close(self) -> None:
        self.m.lib.llama_memory_seq_rm(self.m.memory, self.seq, -1, -1)
        self.m.lib.llama_batch_free(self.batch)


def pick_threads(m: Any, parallel: int, candidates: list[int]) -> dict[int, float]:
    """Median seconds of a `parallel`-row step per thread count (interleaved); leaves the context set
    to the fastest. {} (threads unchanged) when there is nothing to choose or a decode failed."""
    cands = sorted(set(candidates))
    if len(cands) < 2:
        return {}
    probe = _Probe(m, parallel - 1, parallel)
    times: dict[int, list[float]] = {t: [] for t in cands}
    try:
        if not probe.prefill():
            return {}
        for rep in range(REPEATS):
            for t in (cands if rep % 2 == 0 else cands[::-1]):
                m.lib.llama_set_n_threads(m.ctx, t, t)
                s = probe.step(parallel)
                if s is None:
                    return {}
                times[t].append(s)
    finally:
        probe.close()
    med = {t: statistics.median(v) for t, v in times.items()}
    best = min(med, key=lambda t: med[t])
    m.lib.llama_set_n_threads(m.ctx, best, best)
    return med


def choose_threads(m: Any, parallel: int) -> None:
    """The engine's default thread count: the cores free at start (m.threads), all cores, or half, by a
    timed step of `parallel` rows; recorded in m.cpu (what doctor and the run's engine line show)."""
    cores = m.cpu.cores
    timed = pick_threads(m, parallel, [m.threads, cores, max(1, cores // 2)])
    if timed:
        m.set_threads(min(timed, key=lambda t: timed[t]), timed)


def measure(m: Any, seq: int, parallel: int) -> list[tuple[int, int, float]]:
    """(ubatches, rows, seconds) of decodes of one sequence (one micro-batch each); [] if one failed."""
    sizes = row_sizes(parallel, m.n_batch)
    probe = _Probe(m, seq, sizes[-1])
    out: list[tuple[int, int, float]] = []
    try:
        if not probe.prefill():
            return []
        for rep in range(REPEATS):
            for rows in (sizes if rep % 2 == 0 else sizes[::-1]):
                s = probe.step(rows)
                if s is None:
                    return []
                out.append((1, rows, s))
    finally:
        probe.close()
    return out
