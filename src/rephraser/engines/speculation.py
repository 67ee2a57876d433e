"""Draft-free speculative decoding for the embedded engine: prompt lookup, and how many tokens to draft.

A rewrite copies long spans of its source, so the next few tokens can often be guessed by finding the
latest earlier place where the last n generated tokens occurred (in the prompt, which holds the
document, or in the output so far) and proposing what followed there. The engine then feeds the
guesses with the real next token in one batched decode and keeps the longest prefix the model agrees
with (see `verify` in llamacpp_spec.py), plus one token of its own.

Exactness: each position is sampled from the model's own distribution with the sequence's own RNG, one
draw per emitted token, exactly as without speculation; a draft is accepted when the sampled token
equals it. For a draft that is a single proposed token (a point mass), this is the standard
speculative-sampling rule: accepted with probability p(draft), and on rejection the emitted token is
distributed as p without the draft, renormalised, which is the residual max(0, p - q) normalised.
Because the draws are the same as without speculation, a seeded document gets the same output with
speculation on or off, up to floating-point differences between batched and single-token decodes.

Whether drafting pays depends on the machine: on a CPU that is already busy with several sequences a
drafted token costs almost as much as a real one, so the draft lengths are chosen per step from a
measured cost model (`StepCost`, calibrated on this machine when the engine starts) and each
sequence's recent acceptance (`Acceptance`), and are zero unless the expected gain clears the cost by a
margin. A sequence that is not drafting still has its guess checked against the token it then samples
(a "shadow" guess, free), so its acceptance stays current without paying for a probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MAX_NGRAM = 4  # longest suffix looked up; longer matches rarely change the guess
MAX_DRAFT = 8  # most tokens drafted for one sequence in one step
# Prior acceptance per match length (1..MAX_NGRAM): a one-token match is a weak signal, four tokens strong.
PRIOR_ACCEPT = (0.25, 0.45, 0.6, 0.7)
PRIOR_WEIGHT = 4.0  # the prior counts as this many observed draft positions
DECAY = 0.97  # older observations fade, so acceptance follows the part of the document being rewritten


class PromptLookup:
    """Per-sequence n-gram index over prompt + output: the latest continuation of every 1..MAX_NGRAM-gram."""

    def __init__(self, prompt: list[int]):
        self.tokens: list[int] = []
        self.index: dict[tuple[int, ...], int] = {}
        self.extend(prompt)

    def extend(self, new: list[int]) -> None:
        toks, index = self.tokens, self.index
        for t in new:
            end = len(toks)  # the n-grams ending just before `t` now have a known continuation (at `end`)
            for n in range(1, min(MAX_NGRAM, end) + 1):
                index[tuple(toks[end - n:end])] = end
            toks.append(t)

    def draft(self, k: int) -> tuple[list[int], int]:
        """Up to k guessed next tokens and the length of the suffix match they come from (0 = none)."""
        toks = self.tokens
        if k <= 0:
            return [], 0
        for n in range(min(MAX_NGRAM, len(toks)), 0, -1):
            at = self.index.get(tuple(toks[len(toks) - n:]))
            if at is not None:
                return toks[at:at + k], n
        return [], 0


@dataclass
class Acceptance:
    """A sequence's recent acceptance probability per draft position, by match length (decayed counts)."""

    hits: list[float] = field(default_factory=lambda: [p * PRIOR_WEIGHT for p in PRIOR_ACCEPT])
    tries: list[float] = field(default_factory=lambda: [PRIOR_WEIGHT] * MAX_NGRAM)

    def rate(self, match: int) -> float:
        i = max(1, min(match, MAX_NGRAM)) - 1
        return self.hits[i] / self.tries[i]

    def update(self, match: int, drafted: int, accepted: int) -> None:
        """`accepted` of `drafted` guesses were kept; positions after the first rejection were never tested."""
        i = max(1, min(match, MAX_NGRAM)) - 1
        tested = min(drafted, accepted + 1)
        self.hits[i] = self.hits[i] * DECAY ** tested + accepted
        self.tries[i] = self.tries[i] * DECAY ** tested + tested


class StepCost:
    """Seconds of one llama_decode ≈ per_ubatch × ubatches + per_row × rows, fitted online (decayed least
    squares). llama.cpp runs a batch as several micro-batches when its sequences bring different numbers
    of tokens (one KV stream per sequence), and every micro-batch reads all the weights again: that is
    `per_ubatch`. Whether a guessed row is nearly free (a decode that mostly reads weights) or costs as
    much as a real one (2 cores already busy with 8 sequences) is this machine's fact, so the engine
    measures it when it starts (`calibrate`: decodes of 1 to 2×parallel rows). Those measurements stay
    as an undecayed prior: a long run of equal-sized steps (no guesses) cannot tell the two coefficients
    apart, and must not wash out what was measured. Without calibration the prior is a ratio, scaled to
    seconds by the first observation."""

    def __init__(self, per_ubatch: float = 3.0, per_row: float = 1.0, weight: float = 8.0, decay: float = 0.98):
        self.decay = decay
        self.weight = weight
        self.ratio = (per_ubatch, per_row)
        self.prior = [0.0] * 5  # normal equations (uu, rr, ur, ut, rt) of the prior: never decayed
        self.obs = [0.0] * 5  # the same sums over observed steps, decayed
        self.seeded = False

    @staticmethod
    def _add(sums: list[float], u: float, r: float, t: float, w: float) -> None:
        for i, v in enumerate((u * u, r * r, u * r, u * t, r * t)):
            sums[i] += w * v

    def calibrate(self, samples: list[tuple[int, int, float]]) -> None:
        """Measured (ubatches, rows, seconds) decodes become the prior, `weight` observations in all."""
        self.prior = [0.0] * 5
        for u, r, t in samples:
            self._add(self.prior, u, r, t, self.weight / len(samples))
        self.seeded = True

    def observe(self, ubatches: int, rows: int, seconds: float, weight: float = 1.0) -> None:
        if not self.seeded:
            self.seeded = True
            a, b = self.ratio
            scale = seconds / (a * ubatches + b * rows)
            for u, r in ((1, 1), (1, 16)):  # pseudo-observations of the prior, so one step size is enough
                self._add(self.prior, u, r, scale * (a * u + b * r), self.weight / 2)
        self.obs = [v * self.decay for v in self.obs]
        self._add(self.obs, ubatches, rows, seconds, weight)

    def coefficients(self) -> tuple[float, float]:
        suu, srr, sur, sut, srt = (p + o for p, o in zip(self.prior, self.obs, strict=True))
        det = suu * srr - sur * sur
        if det <= 1e-12 * max(1.0, suu * srr):
            return self.ratio
        a = (sut * srr - srt * sur) / det
        b = (srt * suu - sut * sur) / det
        b = max(b, 1e-6)
        return max(a, 0.05 * b), b  # a micro-batch never costs less than a twentieth of a row

    def __call__(self, ubatches: int, rows: int) -> float:
        a, b = self.coefficients()
        return a * ubatches + b * rows


def count_ubatches(rows: list[tuple[int, int]], n_ubatch: int) -> int:
    """Micro-batches llama.cpp makes of a batch given as (sequence id, its rows) in batch order, with one
    KV stream per sequence (its `split_equal`, sequential): a micro-batch takes a run of consecutive
    sequence ids and the same number of rows from each."""
    left = {s: n for s, n in rows if n > 0}
    order = [s for s, n in rows if n > 0]
    count = 0
    while left:
        run: list[int] = []
        for s in order:
            if s in left and (not run or s == run[-1] + 1):
                run.append(s)
        take = max(1, min(min(left[s] for s in run), n_ubatch // len(run)))
        for s in run:
            left[s] -= take
            if left[s] <= 0:
                del left[s]
        count += 1
    return count


@dataclass
class Candidate:
    """One generating sequence as the planner sees it: its id, a draft, and its expected acceptance."""

    seq_id: int
    draft: list[int]
    accept: float


CAPS = (1, 2, 3, 4, 6, 8)  # common draft caps tried per step (a few, so planning stays well under a millisecond)
FLOORS = (0.0, 0.35, 0.7)  # a guess is fed only while the chance it is kept stays above the floor
# A plan with guesses must beat plain decoding by this much in expected tokens per second. The estimates
# are optimistic where rows are dear: at parallel 8 on 2 cores, plans expected to gain a few percent lost
# 3-8% of decode speed (docs/benchmarks.md), while at parallel 1 the expected gains are tens of percent.
PAY_MARGIN = 1.15


def plan_drafts(cands: list[Candidate], cost: StepCost, n_ubatch: int, margin: float = PAY_MARGIN) -> dict[int, int]:
    """How many drafted tokens each sequence feeds this step: the lengths that maximise expected
    emitted tokens per second of decode, searched over a common cap and an acceptance floor."""
    lengths0 = {c.seq_id: 0 for c in cands}
    longest = max((len(c.draft) for c in cands), default=0)
    if longest == 0:
        return lengths0
    a, b = cost.coefficients()
    base_rows = [(c.seq_id, 1) for c in cands]
    base_time = a * count_ubatches(base_rows, n_ubatch) + b * len(cands)
    # One more row pays only if its chance of being kept beats b * rows / time: when no first guess
    # does (a prompt that rewrites rather than copies), stop here; this is the cheap common case.
    if max(c.accept for c in cands if c.draft) <= margin * b * len(cands) / base_time:
        return lengths0
    # per candidate: chance the i-th guess is kept (accept^i) and the running sum of those chances
    chances = []
    for c in cands:
        ps, p = [], 1.0
        for _ in c.draft:
            p *= c.accept
            ps.append(p)
        chances.append(ps)
    plain_rate = len(cands) / base_time
    best_rate, best = plain_rate * margin, lengths0
    for cap in (k for k in CAPS if k <= longest):
        for floor in FLOORS:
            lengths, expected, rows = {}, float(len(cands)), []
            for c, ps in zip(cands, chances, strict=True):
                n = 0
                while n < min(cap, len(ps)) and ps[n] >= floor:
                    expected += ps[n]
                    n += 1
                lengths[c.seq_id] = n
                rows.append((c.seq_id, 1 + n))
            rate = expected / (a * count_ubatches(rows, n_ubatch) + b * sum(r for _, r in rows))
            if rate > best_rate * 1.0001:  # ties go to the shorter plan (found first)
                best_rate, best = rate, lengths
    return best


def verify(draft: list[int], emit: Callable[[int], int | None]) -> int:
    """Walk one sequence's guesses: `emit(i)` samples position i from the model (with the sequence's own
    RNG, exactly as without speculation) and returns the token, or None when the sequence finished. Go on
    while the sampled token equals the guess; return how many guesses were kept. Position len(draft)
    (after the last guess) is sampled too when every guess was kept, so a step emits kept + 1 tokens."""
    for i in range(len(draft) + 1):
        token = emit(i)
        if token is None or i == len(draft) or token != draft[i]:
            return i
    return len(draft)  # not reached: the last iteration always returns


@dataclass
class SpecCounters:
    """Speculation figures of one completion: guesses fed, guesses kept, steps that verified a draft."""

    drafted: int = 0
    accepted: int = 0
    steps: int = 0
