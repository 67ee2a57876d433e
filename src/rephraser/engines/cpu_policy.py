"""How many threads the embedded engine uses, and how they wait, so decoding survives a shared CPU.

llama.cpp is built with OpenMP here, and its threads meet at a barrier after every operation of every
layer. libgomp's default makes a waiting thread spin (about 300k iterations, milliseconds) before it
sleeps. On a quiet machine that is fastest; when another process holds one of the cores, the spinning
thread burns the slice the thread it waits for needs, and decoding collapsed about tenfold
(docs/benchmarks.md, bench/bench_contention.py). OMP_WAIT_POLICY=PASSIVE (sleep at once) survives
contention but pays a futex wake-up at every barrier (1.8x slower quiet). Two choices, both measured:

- the spin is bounded (GOMP_SPINCOUNT, SPIN_COUNT iterations, well under a millisecond): short quiet
  waits are still caught spinning; a long wait behind a descheduled thread sleeps soon;
- threads default to what a timed decode step prefers (the engine times its candidates when it starts,
  engines/llamacpp_stepcost.py); the first guess, and the candidate it starts from, is the cores free
  when the engine starts: cores minus the CPUs other processes keep
  busy, sampled from /proc/stat over SAMPLE_S (at least 1; one thread has no barriers to wait at). Not
  the 1-minute load average: it decays over minutes, so right after a build or an install finishes it
  would still say "busy" and pin a whole run to 1 thread on an idle machine. Niced processes count as
  busy too: with the kernel's autogroup scheduling (sessions get equal shares, on by default on many
  distributions and on the development machine) a `nice -n 19` job in another terminal takes its full
  share of a core. Where /proc/stat cannot be read (not Linux), the load average is the fallback.

`engine.cpu_wait` picks bounded (default), passive or libgomp (its own default); a user's own
OMP_WAIT_POLICY / GOMP_SPINCOUNT, and `engine.threads`, always win. REPHRASER_OMP=off leaves libgomp's
environment alone (what bench_contention compares against). libgomp reads its environment
once, when llama.cpp's library loads: `prepare()` must run before the first `import llama_cpp`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

SAMPLE_S = 0.3  # how long the busy CPUs are sampled before choosing threads
SPIN_COUNT = 10000  # libgomp spin iterations before sleeping (its default: 300000 when no policy is set)
USER_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class CpuPolicy:
    cores: int
    load: float  # 1-minute load average when chosen
    threads: int
    wait: str  # what governs OpenMP waits, in words
    busy: float | None = None  # CPUs busy with other work when chosen; None: not sampled
    timed: str | None = None  # the engine's timing of candidate thread counts, in words

    def measured(self, threads: int, timed: dict[int, float]) -> CpuPolicy:
        """This policy with the thread count an engine chose by timing a decode step per candidate."""
        words = ", ".join(f"{t}: {1000 * s:.1f} ms" for t, s in sorted(timed.items()))
        return replace(self, threads=threads, timed=f"step timed per thread count {words}")

    def describe(self) -> str:
        seen = (f"{self.busy:.1f} CPU(s) busy over {SAMPLE_S} s, load {self.load:.1f}" if self.busy is not None
                else f"load {self.load:.1f}")
        timed = f"; {self.timed}" if self.timed else ""
        return (f"{self.threads} thread(s) of {self.cores} core(s) ({seen} at start{timed}); "
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


def cpu_times(text: str) -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate `cpu` line of /proc/stat; busy is all but idle and iowait
    (guest time is already inside user)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:9]] + [0] * 8
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            busy = user + nice + system + irq + softirq + steal
            return busy, busy + idle + iowait
    raise ValueError("no aggregate cpu line")


def busy_between(before: tuple[int, int], after: tuple[int, int], cores: int) -> float:
    """CPUs busy between two cpu_times() readings (0 .. cores)."""
    total = after[1] - before[1]
    return 0.0 if total <= 0 else max(0.0, min(float(cores), cores * (after[0] - before[0]) / total))


def sample_busy(seconds: float = SAMPLE_S, cores: int | None = None) -> float | None:
    """CPUs other processes keep busy now (this process is idle while it waits); None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            before = cpu_times(f.read())
        time.sleep(seconds)
        with open("/proc/stat", encoding="ascii") as f:
            after = cpu_times(f.read())
    except (OSError, ValueError):
        return None
    return busy_between(before, after, cores or os.cpu_count() or 1)


def choose(threads: int | None, wait: str = "bounded", apply: bool = True,
           sampler: Callable[[int], float | None] = lambda cores: sample_busy(cores=cores)) -> CpuPolicy:
    """The policy for an engine about to load: `threads` from the config wins; else the free cores.
    apply=False (rephraser doctor): what an engine started now would pick, without touching the environment."""
    wait_text = prepare(wait, apply)
    cores = _cores()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    busy = None
    if threads is None:
        busy = sampler(os.cpu_count() or cores)
        # affinity may give this process fewer cores than the machine has: scale the busy share to them
        taken = load if busy is None else busy * cores / (os.cpu_count() or cores)
        threads = max(1, min(cores, round(cores - taken)))
    return CpuPolicy(cores=cores, load=load, threads=threads, wait=wait_text, busy=busy)
