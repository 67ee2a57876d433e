"""Each engine's static facts live in its own module (SPEC) and the registry names every configurable kind."""

from __future__ import annotations

import pytest

from rephraser.config import ENGINE_CLASSES, KINDS, EngineBase, RunConfig, engine_config
from rephraser.engines import ENGINE_MODULES, engine_spec
from rephraser.engines.base import REQUEST_FIELDS, EngineSpec
from rephraser.errors import ConfigError
from rephraser.generate.preflight import check_request_fields
from rephraser.prompts.registry import library


def _config(kind: str, **kw) -> EngineBase:
    return engine_config({"kind": kind, **({"base_url": "http://127.0.0.1:1"} if kind == "openai" else {}), **kw})


def test_registry_matches_the_config_kinds_and_every_module_exports_its_spec():
    kinds = list(ENGINE_CLASSES)
    assert set(ENGINE_MODULES) == set(kinds) == set(KINDS)
    for kind in kinds:
        spec = engine_spec(kind)
        assert isinstance(spec, EngineSpec) and spec.kind == kind and spec.summary
        assert spec.request_fields <= REQUEST_FIELDS
        res = spec.resources(_config(kind))
        assert set(res) == {"num_gpus", "num_cpus"} and (res["num_gpus"] > 0) == spec.needs_gpu
        assert 1 <= spec.batch_window(_config(kind), 64) <= 64
    with pytest.raises(ValueError, match="unknown engine kind"):
        engine_spec("nope")


def test_specs_carry_the_facts_planning_and_estimates_use():
    llama, vllm, server = engine_spec("llamacpp"), engine_spec("vllm"), engine_spec("openai")
    assert llama.batch_window(_config("llamacpp", parallel=4), 64) == 4
    assert vllm.batch_window(_config("vllm", engine_args={"max_num_seqs": 32}), 64) == 32
    assert vllm.resources(_config("vllm", engine_args={"tensor_parallel_size": 2, "pipeline_parallel_size": 2})) == {
        "num_gpus": 4.0, "num_cpus": 1.0}
    assert llama.resources(_config("llamacpp", threads=6))["num_cpus"] == 6.0
    assert vllm.needs_gpu and not llama.needs_gpu and not server.needs_gpu
    assert llama.startup_s < vllm.startup_s
    tok_s, basis = llama.assumed_tok_s("smollm2-135m")
    assert tok_s > 0 and "CPU" in basis
    tok_s, basis = vllm.assumed_tok_s("HuggingFaceTB/SmolLM2-1.7B-Instruct")
    assert tok_s > 1000 and "study table" in basis
    assert server.assumed_tok_s("a-model-nobody-measured") is None


def test_a_prompt_the_engine_cannot_send_is_refused_before_any_output(monkeypatch):
    continuation = library()["continue"]
    assert continuation.mode == "continuation"
    check_request_fields("llamacpp", [continuation])  # every shipped engine sends raw continuations
    chat_only = EngineSpec(kind="chat-only", summary="x", device="server", build=lambda cfg, n: None,
                           request_fields=frozenset({"seed"}))
    monkeypatch.setattr("rephraser.generate.preflight.engine_spec", lambda kind: chat_only)
    with pytest.raises(ConfigError, match="raw-text continuation"):
        check_request_fields("chat-only", [continuation])
    check_request_fields("chat-only", [library()["faq"]])
    assert RunConfig().engine.kind in ENGINE_MODULES
