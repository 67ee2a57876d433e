"""OpenAIEngine against the fake server: replies, usage, and the error class of every fault kind."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rephraser.config import OpenAIConfig
from rephraser.engines.base import (
    ContextOverflowError,
    EngineError,
    FatalEngineError,
    GenerationRequest,
    Sampling,
    TransientEngineError,
)
from rephraser.engines.openai_http import OpenAIEngine, api_base
from rephraser.errors import ConfigError


def request(doc: str = "The cat sat on the mat.", continuation: bool = False, max_tokens: int = 64) -> GenerationRequest:
    content = doc if continuation else f"Rewrite as a FAQ.\nDocument: {doc}"
    return GenerationRequest(messages=({"role": "user", "content": content},),
                             sampling=Sampling(max_tokens=max_tokens), continuation=continuation)


async def call(url: str, req: GenerationRequest, **cfg_kw):
    engine = OpenAIEngine(OpenAIConfig(base_url=url, model="fake-model", **cfg_kw))
    await engine.start()
    try:
        return await engine.generate(req)
    finally:
        await engine.stop()


def test_chat_and_completion(fake_server):
    url = fake_server()
    out = asyncio.run(call(url + "/v1/", request()))
    assert out.text == "Q: What is this about?\nA: The cat sat on the mat."
    assert out.finish_reason == "stop"
    assert out.completion_tokens == len(out.text.split()) and out.prompt_tokens > 0
    cut = asyncio.run(call(url, request("one two three four five", continuation=True, max_tokens=7)))
    assert cut.finish_reason == "length" and cut.completion_tokens == 7


def test_capabilities_use_estimate_without_tokenizer(fake_server):
    async def caps():
        engine = OpenAIEngine(OpenAIConfig(base_url=fake_server(), model="m", n_ctx=2048))
        await engine.start()
        await engine.stop()
        return engine.capabilities

    c = asyncio.run(caps())
    assert (c.engine, c.model_id, c.max_context, c.exact_token_counts) == ("openai", "m", 2048, False)
    assert c.count_tokens("abcdefgh") == 2 and c.count_tokens("héllo") == 2


@pytest.mark.parametrize("kind", ["500", "429", "close", "garbage", "truncated", "hang"])
def test_fault_kinds_are_transient(fake_server, kind):
    url = fake_server("--fault-rate", "1", "--faults", kind, "--hang-seconds", "5")
    with pytest.raises(TransientEngineError) as e:
        asyncio.run(call(url, request(), request_timeout_s=0.5))
    assert "\n" not in str(e.value)
    if kind == "429":
        assert e.value.retry_after == 0.0


def test_context_overflow(fake_server):
    url = fake_server("--context-chars", "30")
    with pytest.raises(ContextOverflowError, match="maximum context length"):
        asyncio.run(call(url, request("x" * 100)))


def test_auth_and_model_errors_are_fatal(fake_server, monkeypatch):
    url = fake_server("--api-key", "sekret-123", "--strict-model")
    with pytest.raises(FatalEngineError, match="HTTP 401"):
        asyncio.run(call(url, request()))
    monkeypatch.setenv("FAKE_KEY", "sekret-123")
    assert asyncio.run(call(url, request(), api_key_env="FAKE_KEY")).finish_reason == "stop"
    wrong_model = OpenAIEngine(OpenAIConfig(base_url=url, model="nope", api_key_env="FAKE_KEY"))

    async def go():
        await wrong_model.start()
        try:
            await wrong_model.generate(request())
        finally:
            await wrong_model.stop()

    with pytest.raises(FatalEngineError, match="HTTP 404") as e:
        asyncio.run(go())
    assert "sekret" not in str(e.value)
    monkeypatch.delenv("FAKE_KEY")
    with pytest.raises(ConfigError, match="FAKE_KEY is not set"):
        asyncio.run(call(url, request(), api_key_env="FAKE_KEY"))
    # a key passed where its variable's name belongs is never echoed
    with pytest.raises(ConfigError) as e:
        asyncio.run(call(url, request(), api_key_env="a1b2c3d4e5f6sekret"))
    assert "sekret" not in str(e.value) and "not set" in str(e.value)


def test_a_key_given_instead_of_a_variable_name_is_refused_unseen():
    from rephraser.config import RunConfig, validate

    with pytest.raises(ConfigError) as e:
        validate({"engine": {"kind": "openai", "base_url": "http://x", "api_key_env": "sk-proj-SEKRET.42"}},
                 RunConfig, origin="flags")
    assert "engine.api_key_env" in str(e.value) and "NAME of an environment variable" in str(e.value)
    assert "SEKRET" not in str(e.value)


def test_other_client_errors_are_plain_engine_errors(fake_server):
    bad = GenerationRequest(messages=(), sampling=Sampling())
    with pytest.raises(EngineError, match="HTTP 400") as e:
        asyncio.run(call(fake_server(), bad))
    assert type(e.value) is EngineError


def test_unreachable_server_is_transient():
    with pytest.raises(TransientEngineError, match="cannot connect"):
        asyncio.run(call("http://127.0.0.1:9", request()))


def test_many_requests_share_one_pool(fake_server):
    url = fake_server("--delay-ms", "10")

    async def many():
        engine = OpenAIEngine(OpenAIConfig(base_url=url, model="m"), max_connections=32)
        await engine.start()
        try:
            return await asyncio.gather(*(engine.generate(request(f"doc number {i}")) for i in range(200)))
        finally:
            await engine.stop()

    outs = asyncio.run(many())
    assert [o.text.split()[-1] for o in outs] == [str(i) for i in range(200)]
    stats = httpx.get(url + "/stats").json()
    assert stats["ok"] == 200 and stats["requests"] == 200


def test_api_base_accepts_v1_suffix():
    assert api_base("http://h:1/v1/") == "http://h:1"
    assert api_base("http://h:1") == "http://h:1"
