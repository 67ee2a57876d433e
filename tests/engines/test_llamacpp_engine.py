"""LlamaCppEngine with the real SmolLM2 GGUF: batched generation, seeds, overflow, queueing."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rephraser.config import LlamaCppConfig
from rephraser.engines.base import Capabilities, ContextOverflowError, GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.engines.token_sampler import make_rng, sample_token

DOCS = ["The cat sat on the warm mat all afternoon.",
        "Photosynthesis turns light, water and carbon dioxide into sugar.",
        "Paris is the capital and largest city of France."]


def req(doc: str, seed: int = 0, temperature: float = 0.8, max_tokens: int = 24) -> GenerationRequest:
    msg = {"role": "user", "content": f"Write one question and its answer about this text.\nDocument: {doc}"}
    return GenerationRequest(messages=(msg,), sampling=Sampling(temperature=temperature, max_tokens=max_tokens,
                                                                seed=seed))


async def with_engine(fn, **cfg_kw):
    engine = LlamaCppEngine(LlamaCppConfig(**({"n_ctx": 512, "parallel": 4, "threads": 1} | cfg_kw)))
    await engine.start()
    try:
        return await fn(engine)
    finally:
        await engine.stop()


@pytest.mark.model
def test_batched_generation_finishes_with_exact_counts():
    async def go(engine: LlamaCppEngine):
        outs = await asyncio.gather(*(engine.generate(req(d, seed=i, max_tokens=16)) for i, d in enumerate(DOCS)))
        await asyncio.sleep(0.05)  # the decode thread counts a step just after handing its results back
        return outs, engine.capabilities, (engine.decode_steps, engine.decode_rows, engine.prompts_prefilled)

    outs, caps, (steps, rows, prefilled) = asyncio.run(with_engine(go))
    # progress's occupancy: each generation step carries 1..parallel sequences, one sampled token each
    assert 0 < steps <= rows <= 4 * steps
    assert prefilled == len(DOCS) and sum(o.completion_tokens for o in outs) <= prefilled + rows
    assert isinstance(caps, Capabilities)
    assert (caps.engine, caps.model_id, caps.max_context, caps.batch_slots) == (
        "llamacpp", "SmolLM2-135M-Instruct-Q4_1", 512, 4)
    for out in outs:
        assert out.text.strip() and out.finish_reason in ("stop", "length")
        assert 0 < out.completion_tokens <= 16
        assert out.prompt_tokens > caps.count_tokens(DOCS[0]) // 2
        if out.finish_reason == "length":
            assert out.completion_tokens == 16


@pytest.mark.model
def test_seed_reproducible_and_queue_longer_than_slots():
    async def go(engine: LlamaCppEngine):
        a = await engine.generate(req(DOCS[0], seed=11, temperature=1.0, max_tokens=12))
        b = await engine.generate(req(DOCS[0], seed=11, temperature=1.0, max_tokens=12))
        others = [await engine.generate(req(DOCS[0], seed=12, temperature=1.0, max_tokens=12))]
        # 4 requests through 2 slots: the queue refills freed slots.
        many = await asyncio.gather(*(engine.generate(req(DOCS[i % 3], seed=i, max_tokens=6)) for i in range(4)))
        greedy = await engine.generate(req(DOCS[1], temperature=0, max_tokens=6))
        return a, b, others, many, greedy

    a, b, others, many, greedy = asyncio.run(with_engine(go, parallel=2))
    assert a == b
    assert any(o.text != a.text for o in others)
    assert len(many) == 4 and all(0 < m.completion_tokens <= 6 for m in many)
    assert greedy.completion_tokens > 0


@pytest.mark.model
def test_prompt_longer_than_context_overflows_before_decoding():
    async def go(engine: LlamaCppEngine):
        with pytest.raises(ContextOverflowError, match="per sequence"):
            await engine.generate(req("word " * 2000))
        cont = GenerationRequest(messages=({"role": "user", "content": "Once upon a time"},),
                                 sampling=Sampling(temperature=0, max_tokens=8), continuation=True)
        return await engine.generate(cont)  # the engine still works afterwards

    out = asyncio.run(with_engine(go, n_ctx=256, parallel=1))
    assert out.prompt_tokens == 4 and out.completion_tokens == 8 and out.finish_reason == "length"


def test_sampler_greedy_topk_and_seed():
    logits = np.array([0.0, 5.0, 4.9, -3.0, 1.0], dtype=np.float32)
    assert sample_token(logits, Sampling(temperature=0), make_rng(0)) == 1
    picks = {sample_token(logits, Sampling(temperature=1.0, top_k=2, top_p=1.0), make_rng(s)) for s in range(50)}
    assert picks == {1, 2}
    assert {sample_token(logits, Sampling(temperature=1.0, top_k=0, top_p=0.3), make_rng(s))
            for s in range(20)} == {1}
    seq = [sample_token(logits, Sampling(temperature=2.0, top_k=0, top_p=1.0), make_rng(7)) for _ in range(3)]
    assert len(set(seq)) == 1


def test_unknown_model_is_fatal_one_line():
    from rephraser.engines.base import FatalEngineError

    with pytest.raises(FatalEngineError, match="unknown model 'nope'"):
        asyncio.run(LlamaCppEngine(LlamaCppConfig(model="nope")).start())


def test_a_file_that_is_no_model_fails_start_in_one_line_and_leaves_no_thread(tmp_path):
    # the model loads on the decode thread: its failure must reach start() and end that thread
    from rephraser.engines.base import FatalEngineError

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 60)
    engine = LlamaCppEngine(LlamaCppConfig(model=str(bad)))
    with pytest.raises(FatalEngineError, match="cannot load model"):
        asyncio.run(engine.start())
    assert engine._thread is None and engine._model is None
