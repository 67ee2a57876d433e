"""Prompt-lookup speculation without a model: drafting, the verify walk's exactness on a toy model
(chi-square against the target distribution, and seed-for-seed equality with plain sampling), the
micro-batch count, the cost fit and the draft planner."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from rephraser.engines.base import Sampling
from rephraser.engines.speculation import (
    Acceptance,
    Candidate,
    PromptLookup,
    StepCost,
    count_ubatches,
    plan_drafts,
    verify,
)
from rephraser.engines.token_sampler import make_rng, sample_token

VOCAB = 6


def toy_logits(history: list[int]) -> np.ndarray:
    """A fixed toy language model: next-token logits depend on the last two tokens."""
    a = history[-1] if history else 0
    b = history[-2] if len(history) > 1 else 0
    rng = np.random.default_rng(1000 + 7 * a + b)
    return rng.normal(0, 1.5, VOCAB).astype(np.float32)


def plain(seed: int, n: int, sampling: Sampling) -> list[int]:
    rng, out = make_rng(seed), []
    while len(out) < n:
        out.append(sample_token(toy_logits(out), sampling, rng))
    return out


def speculative(seed: int, n: int, sampling: Sampling, drafter) -> tuple[list[int], int, int]:
    """The engine's loop in miniature: guess, then verify position by position with the same RNG."""
    rng, out, drafted, kept = make_rng(seed), [], 0, 0
    while len(out) < n:
        draft = drafter(out)[: n - len(out) - 1]

        def emit(i: int) -> int:
            token = sample_token(toy_logits(out), sampling, rng)  # `out` already holds the kept guesses
            out.append(token)
            return token

        k = verify(draft, emit)
        drafted, kept = drafted + len(draft), kept + k
    return out, drafted, kept


def random_drafter(seed: int):
    r = np.random.default_rng(seed)
    return lambda out: [int(t) for t in r.integers(0, VOCAB, size=int(r.integers(0, 5)))]


@pytest.mark.parametrize("sampling", [Sampling(temperature=1.0, top_p=1.0, top_k=0),
                                      Sampling(temperature=0.7, top_p=0.9, top_k=4), Sampling(temperature=0.0)])
def test_same_tokens_as_plain_sampling_seed_for_seed(sampling):
    for seed in range(40):
        got, drafted, _ = speculative(seed, 12, sampling, random_drafter(seed))
        assert got == plain(seed, 12, sampling)
        assert drafted > 0


def test_distribution_matches_target_chi_square():
    """The token after a fixed prefix, drawn through verify with a guess that is often wrong: its
    empirical distribution equals the model's softmax (and acceptance equals p(guess))."""
    sampling = Sampling(temperature=1.0, top_p=1.0, top_k=0)
    prefix = [2, 5]
    logits = toy_logits(prefix).astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    guess = int(np.argsort(p)[-2])  # the second most likely token: accepted sometimes, rejected often
    rng = make_rng(7)
    counts = np.zeros(VOCAB)
    kept = 0
    n = 20000
    for _ in range(n):
        seen: list[int] = []

        def emit(i: int, seen: list[int] = seen) -> int:
            token = sample_token(toy_logits(prefix + seen), sampling, rng)
            seen.append(token)
            return token

        kept += verify([guess], emit)
        counts[seen[0]] += 1
    assert chisquare(counts, p * n).pvalue > 1e-3
    assert abs(kept / n - p[guess]) < 4 * np.sqrt(p[guess] * (1 - p[guess]) / n)


def test_prompt_lookup_drafts_the_latest_continuation_of_the_longest_match():
    lk = PromptLookup([1, 2, 3, 4, 9, 9, 2, 3, 5, 6])
    lk.extend([7, 2, 3])  # suffix [2, 3]: latest earlier continuation is 5, 6, 7
    assert lk.draft(3) == ([5, 6, 7], 2)
    lk.extend([4])  # suffix [2, 3, 4] matches the start: its continuation wins over the shorter [3, 4]
    assert lk.draft(2) == ([9, 9], 3)
    assert PromptLookup([1, 2]).draft(0) == ([], 0)
    assert PromptLookup([1, 2, 3]).draft(4)[0] == []  # nothing seen twice, no continuation known


def test_acceptance_follows_observations():
    acc = Acceptance()
    start = acc.rate(3)
    for _ in range(30):
        acc.update(3, 4, 4)
    assert acc.rate(3) > 0.9 > start
    for _ in range(120):
        acc.update(3, 4, 0)
    assert acc.rate(3) < 0.15


def test_count_ubatches_follows_llama_split_equal():
    assert count_ubatches([(0, 1), (1, 1), (2, 1)], 512) == 1
    assert count_ubatches([(0, 3), (1, 3)], 512) == 1
    assert count_ubatches([(0, 1), (1, 4)], 512) == 2  # equal rows per sequence in each micro-batch
    assert count_ubatches([(0, 1), (2, 1)], 512) == 2  # a gap in sequence ids ends a micro-batch
    assert count_ubatches([(0, 600)], 512) == 2


def test_step_cost_recovers_its_coefficients():
    cost = StepCost(weight=0.01)
    for u, r in [(1, 8), (1, 16), (2, 9), (1, 40), (3, 24)] * 5:
        cost.observe(u, r, 0.008 * u + 0.0025 * r)
    a, b = cost.coefficients()
    assert a == pytest.approx(0.008, rel=0.05) and b == pytest.approx(0.0025, rel=0.05)


def test_calibrated_cost_decides_by_parallel_and_survives_equal_steps():
    """Decodes measured at start (seconds = 6 ms per micro-batch + 2.5 ms per row, 2 cores) stay the
    prior: many equal-sized steps later (8 rows, nothing guessed) the fit still knows what a row costs."""
    cost = StepCost()
    cost.calibrate([(1, r, 0.006 + 0.0025 * r) for r in (1, 2, 8, 12, 20)] * 3)
    for _ in range(500):
        cost.observe(1, 8, 0.026)
    a, b = cost.coefficients()
    assert a == pytest.approx(0.006, rel=0.1) and b == pytest.approx(0.0025, rel=0.1)
    good = [0.8] * 8  # a copying prompt's acceptance
    eight = plan_drafts([Candidate(i, [5, 6, 7, 8], p) for i, p in enumerate(good)], cost, 512)
    assert all(n == 0 for n in eight.values())  # 8 rows already fill the cores: a guess costs a token
    one = plan_drafts([Candidate(0, [5, 6, 7, 8], 0.8)], cost, 512)
    assert one[0] >= 2  # one sequence: a step is mostly fixed cost, guesses pay


def test_plan_drafts_pays_only_where_acceptance_beats_the_cost():
    cheap_rows = StepCost(per_ubatch=10.0, per_row=1.0)  # a decode dominated by reading the weights
    costly_rows = StepCost(per_ubatch=0.5, per_row=1.0)  # compute-bound: every extra row costs nearly full
    good = [Candidate(i, [5, 6, 7, 8], 0.9) for i in range(4)]
    bad = [Candidate(i, [5, 6, 7, 8], 0.2) for i in range(4)]
    assert all(n == 4 for n in plan_drafts(good, cheap_rows, 512).values())
    assert all(n == 0 for n in plan_drafts(bad, costly_rows, 512).values())
    assert all(n == 0 for n in plan_drafts([Candidate(0, [], 0.9)], cheap_rows, 512).values())
    mixed = [Candidate(0, [1, 2, 3], 0.99), Candidate(1, [1, 2, 3], 0.05)]
    plan = plan_drafts(mixed, StepCost(per_ubatch=1.5, per_row=1.0), 512, margin=1.0)  # the geometry alone
    assert plan[0] == 3 and plan[1] == 0
    # where a micro-batch costs more than the rows, the weak guesses ride along: padding to equal rows
    # is cheaper than the second micro-batch llama.cpp would make
    assert plan_drafts(mixed, cheap_rows, 512, margin=1.0) == {0: 3, 1: 3}
    # a gain the estimates cannot be trusted with is left alone: 8% expected, 15% required
    assert all(n == 0 for n in plan_drafts(mixed, StepCost(per_ubatch=1.5, per_row=1.0), 512).values())


def test_speculative_is_a_speed_setting_of_the_embedded_engine():
    from rephraser.config import ConfigError, RunConfig, validate

    base = RunConfig()
    on = RunConfig.model_validate({"engine": {"speculative": "ngram", "speculative_max_draft": 4}})
    assert on.fingerprint() == base.fingerprint()  # same outputs: an old run folder resumes with it switched on
    # a server speculates by its own start flags (vLLM's is a typed field of its own: tests/test_engine_config.py)
    with pytest.raises(ConfigError, match="speculative.*setting of engine.kind llamacpp or vllm, not openai"):
        validate({"engine": {"kind": "openai", "base_url": "http://h", "speculative": "ngram"}})
