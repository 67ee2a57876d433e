"""Context-aware decoding for vLLM (engines/vllm_context_aware.py), on CPU torch without vLLM.

The math is checked against the embedded engine's (engines/steering.contrast); the pairing is checked by
driving the processor the way vLLM's V1 engine does (batch updates, then apply, then its sampler picks
from the returned rows), with a tiny deterministic "model" that gives logits from a prompt and the
tokens so far. Nothing here claims vLLM itself calls the processor this way: that needs a GPU machine.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from rephraser.engines.steering import contrast
from rephraser.engines.vllm_context_aware import (
    KEY,
    ContextAwareProcessor,
    contrast_scores,
    sample_token,
)

V = 12


def test_scores_equal_the_embedded_engines_contrast_up_to_a_constant():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        a, b = torch.randn(V, generator=g) * 3, torch.randn(V, generator=g) * 3
        ours = contrast_scores(a, b, 0.5).numpy()
        ref = contrast(a.numpy(), b.numpy(), 0.5)
        assert np.array_equal(np.isinf(ours), np.isinf(ref))
        finite = np.isfinite(ref)
        diff = ours[finite] - ref[finite]
        assert np.allclose(diff, diff[0], atol=1e-4)


def test_a_structure_mask_stays_and_plausibility_counts_allowed_tokens_only():
    with_src = torch.tensor([5.0, 0.0, -1.0, -30.0])
    with_src[0] = float("-inf")  # vLLM's grammar bitmask came first: the favourite is forbidden
    out = contrast_scores(with_src, torch.zeros(4), 1.0)
    assert out[0] == float("-inf") and out[3] == float("-inf")
    assert torch.isfinite(out[1]) and torch.isfinite(out[2])


def test_sampling_greedy_top_k_top_p_and_seed():
    scores = torch.tensor([0.0, 2.0, 1.9, float("-inf")])
    assert sample_token(scores, 0.0, 0, 1.0, None) == 1
    assert sample_token(scores, 1.0, 1, 1.0, torch.Generator().manual_seed(0)) == 1
    assert sample_token(scores, 1.0, 0, 0.01, torch.Generator().manual_seed(0)) == 1
    draws = [sample_token(scores, 1.0, 0, 1.0, torch.Generator().manual_seed(s)) for s in range(60)]
    assert set(draws) <= {0, 1, 2} and {1, 2} <= set(draws)  # never the forbidden token; both close ones occur
    again = [sample_token(scores, 1.0, 0, 1.0, torch.Generator().manual_seed(s)) for s in range(60)]
    assert draws == again


def test_invalid_tags_are_refused_at_the_request():
    ok = types.SimpleNamespace(extra_args={KEY: {"pair": "p", "role": "main", "alpha": 0.5}})
    ContextAwareProcessor.validate_params(ok)
    ContextAwareProcessor.validate_params(types.SimpleNamespace(extra_args=None))  # untagged: not ours
    for bad in ({"pair": "p", "role": "other"}, {"role": "main"}, {"pair": "p", "role": "main", "alpha": 9}):
        with pytest.raises(ValueError, match=KEY):
            ContextAwareProcessor.validate_params(types.SimpleNamespace(extra_args={KEY: bad}))


# ---- driving the processor as vLLM's engine loop does ---------------------------------------------
def model_logits(prompt: tuple[int, ...], tokens: list[int]) -> torch.Tensor:
    """A deterministic toy LM: the next token's logits depend on the prompt and the last token."""
    seed = (hash(prompt) * 31 + (tokens[-1] if tokens else -1)) % (2**31)
    return torch.randn(V, generator=torch.Generator().manual_seed(seed)) * 2.0


def params(role: str, pair: str = "p", alpha: float = 1.0, plain: bool = False):
    extra = None if plain else {KEY: {"pair": pair, "role": role, **({"alpha": alpha} if role == "main" else {})}}
    return types.SimpleNamespace(extra_args=extra, temperature=0.0, top_k=-1, top_p=1.0, seed=0)


def batch(added=(), removed=(), moved=()):
    return types.SimpleNamespace(batch_size=0, added=list(added), removed=list(removed), moved=list(moved))


DOC, BARE = (1, 2, 3, 4), (1, 4)  # the prompt with and without its document


def reference_cad(steps: int, alpha: float = 1.0) -> list[int]:
    """Greedy context-aware decoding computed directly (the embedded engine's math)."""
    out: list[int] = []
    for _ in range(steps):
        s = contrast(model_logits(DOC, out).numpy(), model_logits(BARE, out).numpy(), alpha)
        out.append(int(np.argmax(s)))
    return out


def run(proc, reqs: dict[str, tuple[tuple[int, ...], list[int], object]], schedule) -> None:
    """vLLM's loop, step by step: requests not scheduled leave the persistent batch (`removed`) and come
    back (`added`, with their live output list) when scheduled again; the processor applies to the
    step's logits rows; greedy sampling picks each row's best token."""
    for step in range(6):
        names = [n for n in sorted(reqs) if n in schedule(step)]
        proc.update_state(batch(removed=list(proc.rows),
                                added=[(i, reqs[n][2], list(reqs[n][0]), reqs[n][1]) for i, n in enumerate(names)]))
        logits = torch.stack([model_logits(reqs[n][0], reqs[n][1]) for n in names]) if names else torch.zeros(0, V)
        out = proc.apply(logits)
        for i, n in enumerate(names):
            reqs[n][1].append(int(torch.argmax(out[i])))


def test_a_pair_in_step_decodes_exactly_the_contrast_and_the_twin_follows():
    proc = ContextAwareProcessor()
    main, twin, other = [], [], []
    run(proc, {"m": (DOC, main, params("main")), "t": (BARE, twin, params("contrast")),
               "o": (DOC, other, params("main", plain=True))}, lambda step: {"m", "t", "o"})
    assert main == reference_cad(6)
    assert twin == main  # fed the main's tokens: its logits are p(y | prompt, same tokens)
    plain: list[int] = []
    for _ in range(6):
        plain.append(int(torch.argmax(model_logits(DOC, plain))))
    assert other == plain and other != main  # an untagged request is untouched


def test_a_twin_scheduled_late_catches_up_and_one_ahead_never_contrasts():
    proc = ContextAwareProcessor()
    main, twin = [], []
    run(proc, {"m": (DOC, main, params("main")), "t": (BARE, twin, params("contrast"))},
        lambda step: {"m"} if step < 2 else {"m", "t"})
    assert twin == main[:len(twin)] and len(twin) == 4  # behind: it copies what the main already wrote
    # plain while alone, and plain after: one step behind, the twin never holds the main's tokens in time
    assert main == [int(torch.argmax(model_logits(DOC, main[:k]))) for k in range(6)]
    assert proc.pairs["p"].contrasted == 0

    proc2, main2, twin2 = ContextAwareProcessor(), [], []
    run(proc2, {"m": (DOC, main2, params("main")), "t": (BARE, twin2, params("contrast"))},
        lambda step: {"t"} if step == 0 else {"m", "t"})
    pair = proc2.pairs["p"]
    assert pair.broken and pair.contrasted == 0  # the twin wrote a token first: plain decoding from then on
    plain: list[int] = []
    for _ in range(5):
        plain.append(int(torch.argmax(model_logits(DOC, plain))))
    assert main2 == plain


def test_a_pair_back_in_step_after_both_left_the_batch_is_contrasted_again():
    proc, main, twin = ContextAwareProcessor(), [], []
    run(proc, {"m": (DOC, main, params("main")), "t": (BARE, twin, params("contrast"))},
        lambda step: set() if step in (2, 3) else {"m", "t"})  # both preempted for two steps
    assert main == reference_cad(4) and twin == main


def test_batch_updates_remove_add_and_move_rows():
    from enum import Enum

    Move = Enum("MoveDirectionality", "UNIDIRECTIONAL SWAP")
    proc = ContextAwareProcessor()
    m, t = [], []
    proc.update_state(batch(added=[(0, params("main"), m), (1, params("contrast"), t)]))  # 3-field form
    proc.update_state(batch(moved=[(0, 1, Move.SWAP)]))
    assert proc.rows[1].role == "main" and proc.rows[0].role == "contrast"
    proc.update_state(batch(moved=[(1, 3, Move.UNIDIRECTIONAL)]))
    assert set(proc.rows) == {0, 3} and proc.rows[3].role == "main"
    proc.update_state(batch(removed=[3]))
    assert proc.pairs["p"].main is None and proc.pairs["p"].contrast is not None
    proc.update_state(batch(removed=[0]))
    assert proc.pairs == {} and proc.rows == {}
    proc.update_state(None)  # no change this step
