"""Run fingerprints pinned as literals (issue #22): a refactor of the config classes must leave every run
folder's identity, request cache and grid stage key where it was. Each value was computed by the code
before the per-engine config classes; a change here is a new run identity and must be said in its commit."""

from __future__ import annotations

import pytest

from rephraser.config import RunConfig

FLAT_FIELDS = {  # the engine section every config.yaml written before per-engine classes holds
    "parallel": 8, "threads": None, "context_aware_alpha": 0.0, "speculative": "off", "speculative_max_draft": 8,
    "n_batch": None, "cpu_wait": "bounded", "base_url": None, "api_key_env": None, "tokenizer": None,
    "server": None, "request_timeout_s": 600.0, "engine_args": {}, "chat_template_kwargs": {}, "dialect": "auto",
}

CASES: dict[str, tuple[dict, str]] = {
    "default": ({}, "369c99e159505da5"),
    "llamacpp_model_ctx": ({"engine": {"model": "other.gguf", "n_ctx": 2048}}, "4cfc350967f68967"),
    "llamacpp_n_batch": ({"engine": {"n_batch": 256}}, "74026bf2379fb871"),
    "llamacpp_alpha": ({"engine": {"context_aware_alpha": 0.5}}, "697475606e266b6e"),
    "llamacpp_alpha_zero": ({"engine": {"context_aware_alpha": 0.0}}, "369c99e159505da5"),
    "llamacpp_chat_kwargs": ({"engine": {"chat_template_kwargs": {"enable_thinking": False}}}, "36c9848ad296b9ec"),
    "llamacpp_kv_q8_0": ({"engine": {"kv_cache": "q8_0"}}, "db2083952aa6b43c"),
    "llamacpp_kv_f16": ({"engine": {"kv_cache": "f16"}}, "369c99e159505da5"),  # the default: runs before it keep theirs
    # speed settings: the same outputs, so the default's fingerprint
    "llamacpp_speed_knobs": ({"engine": {"parallel": 16, "threads": 2, "cpu_wait": "passive", "speculative": "ngram",
                                         "speculative_max_draft": 4}}, "369c99e159505da5"),
    "vllm": ({"engine": {"kind": "vllm", "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "n_ctx": 8192}},
             "393523320f04bf28"),
    "vllm_args": ({"engine": {"kind": "vllm", "model": "m", "tokenizer": "tok.json",
                              "engine_args": {"tensor_parallel_size": 2, "max_num_seqs": 512}}}, "26cd438e6b1b72f3"),
    "openai": ({"engine": {"kind": "openai", "model": "served", "base_url": "http://127.0.0.1:8000"}},
               "5f59b9101d361fb1"),
    "openai_speed": ({"engine": {"kind": "openai", "model": "served", "base_url": "http://10.0.0.1:9000/v1",
                                 "api_key_env": "KEY", "request_timeout_s": 30.0, "parallel": 128}}, "5f59b9101d361fb1"),
    "openai_dialect": ({"engine": {"kind": "openai", "model": "served", "base_url": "http://127.0.0.1:8000",
                                   "dialect": "vllm", "tokenizer": "t.json"}}, "ea2301c593612c3a"),
    "openai_server": ({"engine": {"kind": "openai", "model": "served",
                                  "server": {"command": ["llama-server", "--port", "{port}"]}}}, "5f59b9101d361fb1"),
    "constrain_on": ({"postprocess": {"constrain": "on"}}, "31466e1b888e2f5a"),
    "constrain_off": ({"postprocess": {"constrain": "off"}}, "b9e08d6f803177a8"),
    "constrain_grounded": ({"postprocess": {"constrain": "grounded"}}, "534e449c347bdad8"),
    "constrain_grounded_alpha": ({"postprocess": {"constrain": "grounded"}, "engine": {"context_aware_alpha": 1.0}},
                                 "eeda4d4964c09a5c"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fingerprint_is_pinned(name):
    raw, expected = CASES[name]
    assert RunConfig.model_validate(raw).fingerprint() == expected


@pytest.mark.parametrize("name", ["default", "vllm_args", "openai_server", "llamacpp_alpha", "constrain_grounded"])
def test_a_config_yaml_written_before_keeps_its_fingerprint(name):
    """An old OUT/config.yaml holds every field of the flat engine section, whatever the kind."""
    raw, expected = CASES[name]
    engine = {"kind": "llamacpp", "model": "smollm2-135m", "n_ctx": 4096, **FLAT_FIELDS, **raw.get("engine", {})}
    old = {**raw, "engine": engine}
    assert RunConfig.model_validate(old).fingerprint() == expected


def test_outcome_fields_of_the_engine_are_pinned():
    assert RunConfig().outcome_fields()["engine"] == {
        "kind": "llamacpp", "model": "smollm2-135m", "n_ctx": 4096, "tokenizer": None, "engine_args": {},
        "chat_template_kwargs": {}, "dialect": "auto"}
    openai = RunConfig.model_validate(CASES["openai_dialect"][0]).outcome_fields()
    assert openai["engine"] == {
        "kind": "openai", "model": "served", "n_ctx": 4096, "tokenizer": "t.json", "engine_args": {},
        "chat_template_kwargs": {}, "dialect": "vllm"}
    assert openai["postprocess"] == {"enabled": True, "enforce": True, "allow_length_finish": False,
                                     "constrain": "auto", "dedup": "off"}
    alpha = RunConfig.model_validate(CASES["llamacpp_alpha"][0]).outcome_fields()["engine"]
    assert alpha["context_aware_alpha"] == 0.5


def test_library_prompts_enter_the_identity_by_name_as_before():
    """Prompt files enter a run's identity by name, not path (prompts/registry.py `prompt_ids`); a shipped
    prompt keeps the fingerprint it had."""
    from rephraser.prompts.registry import prompt_ids, resolve_prompts

    ids = prompt_ids(["faq", "table"], resolve_prompts(["faq", "table"]))
    assert ids == {"faq": "faq", "table": "table"}
    assert RunConfig().fingerprint(ids) == CASES["default"][1]
    routed = RunConfig.model_validate({"prompts": ["faq", "table"], "routing": {
        "routes": [{"name": "n", "when": {"numbers": 2}, "prompts": ["table"]}], "default": {"prompts": {"faq": 1}}}})
    assert routed.fingerprint(ids) == routed.fingerprint()


@pytest.mark.parametrize("example, count, digest", [
    ("mini_ablation", 9, "131bd57da6927433"), ("routing_ablation", 5, "028d076eca571a43"),
    ("finephrase", 48, "985c1ccf5c0d9815")])
def test_grid_generate_stage_keys_are_pinned(example, count, digest):
    """A grid's generate stage key hashes the run's outcome fields: the shipped grids keep theirs."""
    import hashlib
    from pathlib import Path

    from rephraser.config import load_yaml
    from rephraser.experiments.cells import expand, unique_stages
    from rephraser.experiments.config import ExperimentConfig

    cfg = load_yaml(Path(__file__).parents[1] / "examples" / f"{example}.yaml", ExperimentConfig)
    keys = sorted(s.key for s in unique_stages(expand(cfg)) if s.kind == "generate")
    assert (len(keys), hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16]) == (count, digest)
