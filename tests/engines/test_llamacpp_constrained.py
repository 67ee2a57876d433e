"""Constrained decoding in the embedded engine with the real SmolLM2 GGUF: valid under the contract for
several seeds, and one matcher per sequence (a batch never mixes constraints or seeds)."""

from __future__ import annotations

import asyncio
import queue

import numpy as np
import pytest

from rephraser.config import LlamaCppConfig
from rephraser.engines.base import EngineError, GenerationRequest, OutputStructure, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.engines.token_sampler import make_rng, sample_token
from rephraser.postprocess.contract import apply_contract
from rephraser.prompts.layouts import build_layout
from rephraser.prompts.registry import resolve_prompt

DOC = ("The Nile is a river in Africa. It is about 6,650 km long and flows north through Egypt and Sudan "
       "into the Mediterranean Sea.")
# A typical Wikipedia lead (the contracts' length windows are set for documents of this size).
LONG_DOC = ("The Nile is a major north-flowing river in northeastern Africa. It flows into the Mediterranean "
            "Sea. The Nile is among the longest rivers in the world, at about 6,650 km long. Its drainage basin "
            "covers eleven countries: the Democratic Republic of the Congo, Tanzania, Burundi, Rwanda, Uganda, "
            "Kenya, Ethiopia, Eritrea, South Sudan, Sudan, and Egypt. In particular, the Nile is the primary "
            "water source of Egypt, Sudan and South Sudan. The Nile has two major tributaries: the White Nile "
            "and the Blue Nile. The river was central to the civilisation of Ancient Egypt.")


def _structure(spec) -> OutputStructure:
    st = spec.contract.structure
    return OutputStructure(st.kind, st.value)


def _layout(spec, max_tokens: int) -> OutputStructure:
    return OutputStructure("lark", build_layout(spec.contract.layout, LONG_DOC, max_tokens=max_tokens, grounded=False))


async def _with_engine(fn, job_queue: queue.Queue | None = None, **cfg):
    engine = LlamaCppEngine(LlamaCppConfig(**({"n_ctx": 1024, "parallel": 3, "threads": 1} | cfg)))
    if job_queue is not None:
        engine._queue = job_queue  # before start: the decode thread reads it from its first admission
    await engine.start()
    try:
        return await fn(engine)
    finally:
        await engine.stop()


@pytest.mark.model
@pytest.mark.timeout(1800)  # ~30 s alone; the grammar may use its whole length budget on a loaded machine
def test_constrained_faq_and_table_are_valid_under_their_contracts_for_several_seeds():
    specs = [resolve_prompt("faq"), resolve_prompt("table")]

    async def go(engine):
        # the per-document layout, as a run with constrain: on sends it to this engine (the fixed structure is
        # for engines without Lark: its character caps can end a unit mid-word, which the contract refuses)
        reqs = [(spec, GenerationRequest(messages=spec.messages(LONG_DOC), structure=_layout(spec, 512),
                                         sampling=Sampling(temperature=0.7, top_k=40, max_tokens=512, seed=seed,
                                                           repetition_penalty=1.1)))
                for spec in specs for seed in (1, 2)]
        return reqs, await asyncio.gather(*(engine.generate(r) for _, r in reqs))

    reqs, outs = asyncio.run(_with_engine(go))
    for (spec, _), out in zip(reqs, outs, strict=True):
        v = apply_contract(spec, out.text, source_text=LONG_DOC, finish_reason=out.finish_reason)
        # The grammar guarantees the layout; what the contract may still reject is length, so report it.
        assert out.finish_reason == "stop", f"{spec.name}: cut at max_tokens: {out.text[:200]!r}"
        assert v.ok, f"{spec.name}: {v.reason}: {out.text[:300]!r}"


class _PairedQueue(queue.Queue):
    """The engine's job queue, releasing jobs two at a time in one locked step, so the decode thread always
    admits both requests of a pair into the same batch. Without it, on a loaded machine the thread could
    start the first request alone while the second was still being tokenised: a different batch shape,
    different floats, and a test about constraint state failing on numerics."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list = []

    def put(self, item, block=True, timeout=None) -> None:  # noqa: ANN001
        if item is None:  # the stop sentinel passes at once
            return super().put(item, block, timeout)
        self._held.append(item)
        if len(self._held) == 2:
            with self.not_empty:
                for job in self._held:
                    self._put(job)
                    self.unfinished_tasks += 1
                self._held = []
                self.not_empty.notify()


@pytest.mark.model
def test_each_sequence_keeps_its_own_constraint_and_seed_in_a_batch():
    """A sequence's output does not depend on its batch neighbour's grammar or seed.

    Batches keep the same shape (same prompt lengths, no sequence can finish inside 24 tokens under these
    grammars) so llama.cpp computes the same floats; only the neighbour's constraint and seed change.
    Against a solo decode the floats themselves can differ slightly (measured: an unconstrained table
    request diverged from its solo decode after 5 tokens in a batch), which is the model's numerics, not
    constraint state: see docs/engines.md."""
    faq, table = resolve_prompt("faq"), resolve_prompt("table")

    def req(spec, grammar_of, seed):
        return GenerationRequest(messages=spec.messages(DOC), structure=_structure(grammar_of),
                                 sampling=Sampling(max_tokens=24, seed=seed))

    async def go(engine):
        a = await asyncio.gather(engine.generate(req(faq, faq, 5)), engine.generate(req(table, table, 9)))
        # the neighbours swap grammars and seeds; the sequence under test keeps its own
        b = await asyncio.gather(engine.generate(req(faq, faq, 5)), engine.generate(req(table, faq, 77)))
        c = await asyncio.gather(engine.generate(req(faq, table, 78)), engine.generate(req(table, table, 9)))
        return a, b, c

    a, b, c = asyncio.run(_with_engine(go, job_queue=_PairedQueue(), parallel=2))
    assert a[0].text == b[0].text and a[1].text == c[1].text
    assert a[0].text.startswith("Q: ") and a[1].text.startswith("|")
    assert b[1].text.startswith("Q: ") and c[0].text.startswith("|")  # each neighbour followed its own grammar
    assert all(o.completion_tokens == 24 for o in (*a, *b, *c))


@pytest.mark.model
def test_a_structure_that_breaks_at_run_time_fails_its_request_not_the_engine():
    async def go(engine):
        bad = GenerationRequest(messages=({"role": "user", "content": "Say hi."},),
                                structure=OutputStructure("gbnf", "root ::= undefined"),
                                sampling=Sampling(max_tokens=8))
        with pytest.raises(EngineError, match="cannot use the gbnf"):
            await engine.generate(bad)
        ok = GenerationRequest(messages=({"role": "user", "content": "Say hi."},), sampling=Sampling(max_tokens=4))
        return await engine.generate(ok)

    assert asyncio.run(_with_engine(go, parallel=1)).completion_tokens > 0


def test_sampler_mask_and_repetition_penalty():
    logits = np.array([5.0, 4.0, 3.0, 2.0], dtype=np.float32)
    allowed = np.array([False, False, True, True])
    picks = {sample_token(logits, Sampling(temperature=1.0, top_k=2), make_rng(s), allowed=allowed) for s in range(40)}
    assert picks == {2, 3}  # top-k works among the permitted tokens only
    assert sample_token(logits, Sampling(temperature=0), make_rng(0), allowed=allowed) == 2
    # A strong penalty on the favourite (recently generated) token hands greedy decoding to the next one.
    assert sample_token(logits, Sampling(temperature=0, repetition_penalty=2.0), make_rng(0), history=[0]) == 1
    assert sample_token(logits, Sampling(temperature=0), make_rng(0), history=[0]) == 0  # penalty 1.0 = off
