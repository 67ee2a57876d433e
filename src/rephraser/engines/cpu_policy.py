"""How many threads the embedded engine uses, and how they wait, so decoding survives a shared CPU.

llama.cpp is built with OpenMP here, and its threads meet at a barrier after every operation of every
layer. libgomp's default makes a waiting thread spin (about 300k iterations, milliseconds) before it
sleeps. On a quiet machine that is fastest; when another process holds one of the cores, the spinning
thread burns the slice the thread it waits for needs, and decoding collapsed about tenfold
(docs/benchmarks.md, bench/bench_contention.py). OMP_WAIT_POLICY=PASSIVE (sleep at once) survives
contention but pays a futex wake-up at every barrier (1.8x slower quiet). Two choices, both measured:

- the spin is bounded (GOMP_SPINCOUNT, SPIN_COUNT iterations, well under a millisecond): short quiet
  waits are still caught spinning; a long wait behind a descheduled thread sleeps soon;
- threads default to the cores that were free when the engine started (cores minus the 1-minute load
  average, at least 1): one thread has no barriers to wait at.

`engine.cpu_wait` picks bounded (default), passive or libgomp (its own default); a user's own
OMP_WAIT_POLICY / GOMP_SPINCOUNT, and `engine.threads`, always win. REPHRASER_OMP=off leaves libgomp's
environment alone (what bench_contention compares against). libgomp reads its environment
once, when llama.cpp's library loads: `prepare()` must run before the first `import llama_cpp`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SPIN_COUNT = 10000  # libgomp spin iterations before sleeping (its default: 300000 when no policy is set)
USER_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class CpuPolicy:
    cores: int
    load: float  # 1-minute load average when chosen
    threads: int
    wait: str  # what governs OpenMP waits, in words

    def describe(self) -> str:
        return (f"{self.threads} thread(s) of {self.cores} core(s) (load {self.load:.1f} at start); "
                f"OpenMP waits: {self.wait}")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_applied: dict[str, str] = {}  # what prepare() put in this process's environment
WAITS = {  # config value -> the libgomp environment it sets
    "bounded": {"GOMP_SPINCOUNT": str(SPIN_COUNT)},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "libgomp": {},
}


def prepare(wait: str = "bounded", apply: bool = True) -> str:
    """Set the environment for `wait` (engine.cpu_wait) unless the user chose a wait policy (apply=False:
    only say what it would be); returns the wait in words."""
    user = {k: os.environ[k] for k in USER_VARS if k in os.environ and _applied.get(k) != os.environ[k]}
    if user:
        return "user setting " + ", ".join(f"{k}={v}" for k, v in user.items())
    if _applied:  # libgomp reads its environment once per process: the first engine's choice stays
        return ", ".join(f"{k}={v}" for k, v in _applied.items()) + " (set by rephraser)"
    if os.environ.get("REPHRASER_OMP", "").lower() == "off" or wait == "libgomp":
        return "libgomp default (long spin)"
    if apply:
        os.environ.update(WAITS[wait])
        _applied.update(WAITS[wait])
    return ", ".join(f"{k}={v}" for k, v in WAITS[wait].items()) + " (set by rephraser)"


def choose(threads: int | None, wait: str = "bounded", apply: bool = True) -> CpuPolicy:
    """The policy for an engine about to load: `threads` from the config wins; else the free cores.
    apply=False (rephraser doctor): what an engine started now would pick, without touching the environment."""
    wait_text = prepare(wait, apply)
    cores = _cores()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    if threads is None:
        threads = max(1, min(cores, round(cores - load)))
    return CpuPolicy(cores=cores, load=load, threads=threads, wait=wait_text)
