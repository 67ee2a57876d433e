"""The request fields each server dialect gets, checked by the loopback fake server.

With `--strict-fields` the fake answers HTTP 400 to any body field its dialect does not know (as OpenAI's
API does), and GET /requests returns the bodies it received, so these tests check both that the
structure / sampling / chat-template fields arrive under the right names and that nothing else is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
import pytest

from rephraser.config import OpenAIConfig
from rephraser.engines.base import GenerationRequest, OutputStructure, Sampling
from rephraser.engines.openai_http import OpenAIEngine
from rephraser.errors import ConfigError
from rephraser.generate.rollouts import enforced_structure
from rephraser.prompts.registry import resolve_prompt

GBNF = 'root ::= "Q: " [^\\n]+'
SCHEMA = json.dumps({"type": "object", "properties": {"q": {"type": "string"}}}, sort_keys=True)


def _request(structure: OutputStructure | None) -> GenerationRequest:
    return GenerationRequest(messages=({"role": "user", "content": "Rewrite.\nDocument: The cat sat."},),
                             sampling=Sampling(top_k=40, repetition_penalty=1.2, max_tokens=16, seed=7),
                             structure=structure)


async def _run(url: str, structure: OutputStructure | None, **cfg) -> tuple[OpenAIEngine, dict]:
    engine = OpenAIEngine(OpenAIConfig(base_url=url, model="fake-model", **cfg))
    await engine.start()
    try:
        await engine.generate(_request(structure))
    finally:
        await engine.stop()
    return engine, httpx.get(f"{url}/requests").json()[-1]


@pytest.mark.parametrize("dialect,structure,expected", [
    ("vllm", OutputStructure("gbnf", GBNF), {"structured_outputs": {"grammar": GBNF}, "top_k": 40,
                                              "repetition_penalty": 1.2}),
    ("vllm", OutputStructure("regex", "Q: .+"), {"structured_outputs": {"regex": "Q: .+"}}),
    ("vllm", OutputStructure("json_schema", SCHEMA), {"structured_outputs": {"json": json.loads(SCHEMA)}}),
    ("llama-server", OutputStructure("gbnf", GBNF), {"grammar": GBNF, "top_k": 40, "repeat_penalty": 1.2}),
    ("sglang", OutputStructure("gbnf", GBNF), {"ebnf": GBNF, "repetition_penalty": 1.2}),
    ("sglang", OutputStructure("regex", "Q: .+"), {"regex": "Q: .+"}),
    ("openai", OutputStructure("json_schema", SCHEMA), {"response_format": {
        "type": "json_schema", "json_schema": {"name": "output", "schema": json.loads(SCHEMA), "strict": True}}}),
])
def test_structure_and_sampling_fields_per_dialect(fake_server, dialect, structure, expected):
    url = fake_server("--dialect", dialect, "--strict-fields")
    engine, body = asyncio.run(_run(url, structure))  # dialect auto: detected from GET /v1/models
    assert engine.dialect.name == dialect
    for k, v in expected.items():
        assert body[k] == v, k
    assert body["seed"] == 7 and body["max_tokens"] == 16
    if dialect == "openai":  # no top_k, no repetition penalty: OpenAI would reject them
        assert "top_k" not in body and "repetition_penalty" not in body
        assert engine.capabilities.sampling_fields == {"temperature", "top_p", "max_tokens", "seed"}


def test_chat_template_kwargs_are_sent_where_understood(fake_server):
    url = fake_server("--dialect", "vllm", "--strict-fields")
    _, body = asyncio.run(_run(url, None, chat_template_kwargs={"enable_thinking": False}))
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "structured_outputs" not in body
    url = fake_server("--dialect", "openai", "--strict-fields")
    with pytest.raises(ConfigError, match="cannot send chat template arguments"):
        asyncio.run(_run(url, None, chat_template_kwargs={"enable_thinking": False}))


def test_unknown_server_gets_standard_fields_only(fake_server):
    url = fake_server("--strict-fields")  # owner "fake": generic
    engine, body = asyncio.run(_run(url, None))
    assert engine.dialect.name == "generic"
    assert set(body) == {"model", "messages", "temperature", "top_p", "max_tokens", "seed"}


def test_constrain_policy_when_the_server_cannot_enforce(fake_server, capsys):
    url = fake_server("--dialect", "openai")
    engine = OpenAIEngine(OpenAIConfig(base_url=url, model="fake-model"))

    async def caps():
        await engine.start()
        await engine.stop()
        return engine.capabilities

    c = asyncio.run(caps())
    faq = resolve_prompt("faq")  # declares a GBNF grammar; OpenAI enforces JSON schemas only
    with pytest.raises(ConfigError, match="prompt faq declares a gbnf structure; engine openai can enforce: json_schema"):
        enforced_structure(faq, c, "on")
    assert enforced_structure(faq, c, "auto") is None
    assert "generating faq without constraints" in capsys.readouterr().err
    assert enforced_structure(faq, c, "off") is None


def _word_tokenizer(path) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "Paris": 1, "London": 2, "river": 3, "the": 4, "What": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path / "tokenizer.json"))
    return str(path / "tokenizer.json")


@pytest.mark.parametrize("dialect, sent", [("vllm", True), ("llama-server", True), ("sglang", False),
                                           ("openai", False)])
def test_grounded_entity_bias_goes_as_logit_bias_with_the_served_tokenizer(fake_server, tmp_path, dialect, sent):
    url = fake_server("--dialect", dialect, "--strict-fields")

    async def go(**cfg):
        engine = OpenAIEngine(OpenAIConfig(base_url=url, model="fake-model", **cfg))
        await engine.start()
        try:
            await engine.generate(dataclasses.replace(_request(None), bias_source="Paris lies on the river"))
        finally:
            await engine.stop()
        return engine, httpx.get(f"{url}/requests").json()[-1]

    engine, body = asyncio.run(go(tokenizer=_word_tokenizer(tmp_path)))
    assert ("source_bias" in engine.capabilities.steering) is sent
    if sent:  # London (a name the source lacks) down, the source's words up, a common opener untouched
        bias = body["logit_bias"]
        assert bias["2"] < 0 and bias["1"] > 0 and bias["3"] > 0 and "5" not in bias
    else:
        assert "logit_bias" not in body
    engine, body = asyncio.run(go())  # no tokenizer.json: the client cannot know the server's ids
    assert "logit_bias" not in body and engine.capabilities.steering == frozenset()
