"""The fake OpenAI server itself: deterministic replies, faults, stats, many keep-alive clients."""

from __future__ import annotations

import asyncio
import json

import httpx

CHAT = "/v1/chat/completions"


def chat(base: str, content: str, max_tokens: int = 64, **headers: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                       {"role": "user", "content": content}], "max_tokens": max_tokens}
    return httpx.post(base + CHAT, json=body, headers=headers, timeout=10)


def test_reply_is_deterministic_and_truncated(fake_server):
    base = fake_server()
    r = chat(base, "Rewrite this.\nDocument: The  cat sat\non the mat.")
    assert r.status_code == 200
    out = r.json()
    text = out["choices"][0]["message"]["content"]
    assert text == "Q: What is this about?\nA: The cat sat on the mat."
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == len(text.split())
    assert chat(base, "Rewrite this.\nDocument: The  cat sat\non the mat.").json()["choices"] == out["choices"]
    cut = chat(base, "Document: one two three four five six", max_tokens=8).json()["choices"][0]
    assert cut["finish_reason"] == "length"
    assert cut["message"]["content"] == "Q: What is this about?\nA: one two"


def test_completions_models_health_and_stats(fake_server):
    base = fake_server("--model", "served-x", "--fault-rate", "1", "--faults", "500")
    assert httpx.get(base + "/health").status_code == 200
    assert httpx.get(base + "/v1/models").json()["data"][0]["id"] == "served-x"
    r = httpx.post(base + "/v1/completions", json={"prompt": "Once upon", "max_tokens": 3})
    assert r.status_code == 500
    r = httpx.post(base + "/v1/completions", json={"prompt": "Once upon", "max_tokens": 50},
                   headers={"X-Fake-Fault": "none"})  # unknown forced kind => normal rate rules
    assert r.status_code == 500
    assert httpx.get(base + "/stats").json() == {"requests": 2, "ok": 0, "faults": {"500": 2}}


def test_fault_kinds_and_context_limit(fake_server):
    base = fake_server("--context-chars", "40", "--hang-seconds", "0.2")
    assert chat(base, "x" * 100).status_code == 400
    assert "maximum context length" in chat(base, "x" * 100).json()["error"]["message"]
    r = chat(base, "hi", **{"X-Fake-Fault": "429"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "0"
    r = chat(base, "hi", **{"X-Fake-Fault": "garbage"})
    assert r.status_code == 200
    try:
        json.loads(r.text)
        raise AssertionError("garbage body parsed as JSON")
    except json.JSONDecodeError:
        pass
    r = chat(base, "hi", **{"X-Fake-Fault": "truncated"})
    assert r.status_code == 200
    try:
        json.loads(r.text)
        raise AssertionError("truncated body parsed as JSON")
    except json.JSONDecodeError:
        pass
    try:
        chat(base, "hi", **{"X-Fake-Fault": "close"})
        raise AssertionError("close fault returned a full response")
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass
    assert chat(base, "hi", **{"X-Fake-Fault": "hang"}).status_code == 200
    stats = httpx.get(base + "/stats").json()
    assert stats["faults"] == {"context": 2, "429": 1, "garbage": 1, "truncated": 1, "close": 1, "hang": 1}


def test_fault_rate_is_deterministic_per_seed(fake_server):
    def pattern(seed: str) -> list[int]:
        base = fake_server("--fault-rate", "0.3", "--faults", "500,429", "--seed", seed)
        return [chat(base, f"doc {i}").status_code for i in range(30)]

    a, b = pattern("7"), pattern("7")
    assert a == b
    assert 0 < a.count(200) < 30 and set(a) <= {200, 500, 429}
    assert pattern("8") != a


def test_many_concurrent_keepalive_clients(fake_server):
    base = fake_server("--delay-ms", "20")

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            body = {"messages": [{"role": "user", "content": "Document: a b c"}], "max_tokens": 16}
            rs = await asyncio.gather(*(client.post(CHAT, json=body) for _ in range(300)))
            return [r.status_code for r in rs]

    codes = asyncio.run(run())
    assert codes == [200] * 300
    assert httpx.get(base + "/stats").json()["ok"] == 300
