"""Soft steering in the embedded engine with the real SmolLM2 GGUF: context-aware decoding runs the
prompt without the document as a second sequence of the same slot, the source bias rides along, and a
document's output still depends only on its own request (not on its batch neighbours)."""

from __future__ import annotations

import asyncio

import pytest

from rephraser.config import LlamaCppConfig
from rephraser.engines.base import GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.prompts.registry import resolve_prompt

DOC = ("The Nile is a river in Africa. It is about 6,650 km long and flows north through Egypt and Sudan "
       "into the Mediterranean Sea.")


def _run(requests, **cfg):
    async def go():
        engine = LlamaCppEngine(LlamaCppConfig(**({"n_ctx": 512, "parallel": 2, "threads": 1} | cfg)))
        await engine.start()
        try:
            caps = engine.capabilities
            return caps, await asyncio.gather(*(engine.generate(r) for r in requests))
        finally:
            await engine.stop()
    return asyncio.run(go())


@pytest.mark.model
def test_context_aware_decoding_is_deterministic_alone_or_batched_and_changes_the_output():
    spec = resolve_prompt("summarize")
    base = dict(messages=spec.messages(DOC), sampling=Sampling(temperature=1.0, max_tokens=12, seed=3))
    cad = GenerationRequest(**base, contrast=spec.messages(""), bias_source=DOC)
    other = GenerationRequest(messages=spec.messages("Paris is the capital of France."),
                              sampling=Sampling(max_tokens=12, seed=4), contrast=spec.messages(""))
    caps, (alone,) = _run([cad], context_aware_alpha=1.0)
    assert caps.steering == {"source_bias", "context_aware"}
    _, (batched, _) = _run([cad, other], context_aware_alpha=1.0)
    assert alone.text == batched.text and alone.completion_tokens > 0
    caps_off, (plain,) = _run([GenerationRequest(**base)])
    assert caps_off.steering == {"source_bias"}
    assert plain.text != alone.text  # same seed: only the contrast and the bias can change it
