"""OpenAIEngine against a REAL llama_cpp.server on loopback (supervised by ManagedServer)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from rephraser.config import OpenAIConfig, ServerConfig
from rephraser.engines.base import ContextOverflowError, GenerationRequest, Sampling
from rephraser.engines.models import resolve_model
from rephraser.engines.openai_http import OpenAIEngine


@pytest.mark.model
def test_real_llama_cpp_server_round_trip():
    path = str(resolve_model("smollm2-135m").path)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", path, "--port", "{port}", "--n_ctx", "2048",
           "--n_threads", "1"]
    cfg = OpenAIConfig(model="smollm2", n_ctx=2048,
                       server=ServerConfig(command=cmd, ready_timeout_s=120, health_path="/v1/models"))

    async def go():
        engine = OpenAIEngine(cfg)
        await engine.start()
        try:
            msg = {"role": "user", "content": "Name one colour."}
            out = await engine.generate(GenerationRequest(messages=(msg,), sampling=Sampling(max_tokens=8, seed=3)))
            with pytest.raises(ContextOverflowError):
                big = {"role": "user", "content": "word " * 3000}
                await engine.generate(GenerationRequest(messages=(big,), sampling=Sampling(max_tokens=8)))
            return out
        finally:
            await engine.stop()

    out = asyncio.run(go())
    assert out.text.strip() and out.finish_reason in ("stop", "length")
    assert 0 < out.completion_tokens <= 8 and out.prompt_tokens > 5
