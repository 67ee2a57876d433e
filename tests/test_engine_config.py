"""One config class per engine kind (config/engine.py): parsing, marks, old files, moved keys, vLLM speculation."""

from __future__ import annotations

import logging
from typing import Annotated

import pytest
from pydantic import Field

from rephraser.config import (
    ConfigError,
    EngineBase,
    LlamaCppConfig,
    OpenAIConfig,
    RunConfig,
    VllmConfig,
    VllmSpeculation,
    engine_config,
    legacy,
    validate,
)
from rephraser.config.marks import OUTPUT, SPEED, mark_of
from rephraser.engines.vllm import build_engine_args

VLLM = {"kind": "vllm", "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "n_ctx": 8192}
VLLM_FINGERPRINT = "393523320f04bf28"  # tests/test_config_fingerprints.py: speculation off keeps it


def test_kind_picks_the_class_and_llamacpp_is_the_default():
    assert type(RunConfig().engine) is LlamaCppConfig
    assert type(engine_config({"model": "x"})) is LlamaCppConfig
    assert type(engine_config({"kind": "openai", "base_url": "http://h"})) is OpenAIConfig
    assert type(engine_config({"kind": "vllm"})) is VllmConfig
    with pytest.raises(ConfigError, match=r"^config: engine: engine kind must be one of llamacpp, openai, vllm$"):
        validate({"engine": {"kind": "tgi"}})


def test_every_field_of_every_engine_class_is_marked():
    for cls in (LlamaCppConfig, OpenAIConfig, VllmConfig):
        assert all(mark_of(cls, name) in (OUTPUT, SPEED) or mark_of(cls, name).output for name in cls.model_fields)
    with pytest.raises(TypeError, match="mark knob as OUTPUT or SPEED"):
        class Unmarked(EngineBase):
            knob: int = 1
    class Marked(EngineBase):  # a marked knob is accepted
        knob: Annotated[int, SPEED] = Field(1)


def test_a_speed_field_stays_out_of_the_fingerprint_and_an_output_field_enters_it():
    base = RunConfig().fingerprint()
    assert RunConfig.model_validate({"engine": {"threads": 3, "cpu_wait": "passive"}}).fingerprint() == base
    assert RunConfig.model_validate({"engine": {"n_ctx": 2048}}).fingerprint() != base
    openai = {"kind": "openai", "base_url": "http://a", "model": "m"}
    same = RunConfig.model_validate({"engine": {**openai, "base_url": "http://b", "request_timeout_s": 5}})
    assert same.fingerprint() == RunConfig.model_validate({"engine": openai}).fingerprint()


def test_another_kinds_key_from_an_old_config_yaml_is_dropped_at_its_default_and_refused_otherwise():
    cfg = validate({"engine": {"kind": "openai", "base_url": "http://h", "threads": None, "cpu_wait": "bounded",
                               "speculative": "off", "engine_args": {}}})
    assert type(cfg.engine) is OpenAIConfig
    with pytest.raises(ConfigError) as e:
        validate({"engine": {"kind": "openai", "base_url": "http://h", "threads": 4}})
    assert str(e.value) == ("config: engine.threads: Extra inputs are not permitted "
                            "(a setting of engine.kind llamacpp, not openai)")
    with pytest.raises(ConfigError, match="engine.base_url: .*a setting of engine.kind openai, not llamacpp"):
        validate({"engine": {"base_url": "http://h"}})


def test_a_misspelt_engine_key_names_the_nearest_of_its_kind():
    with pytest.raises(ConfigError, match=r"engine.request_timeout: .*\(did you mean request_timeout_s\?\)"):
        validate({"engine": {"kind": "openai", "base_url": "http://h", "request_timeout": 5}})


def test_an_error_inside_an_engine_points_at_the_key_the_user_wrote():
    text = "engine:\n  kind: openai\n  base_url: http://h\n  n_ctx: 12\n"
    with pytest.raises(ConfigError) as e:
        validate({"engine": {"kind": "openai", "base_url": "http://h", "n_ctx": 12}}, origin="run.yaml", text=text)
    assert str(e.value).startswith("run.yaml:4:10: engine.n_ctx: Input should be greater than or equal to 256")


def test_cpus_per_job_is_the_embedded_engines_threads_and_one_elsewhere():
    assert LlamaCppConfig(threads=3).cpus_per_job() == 3
    assert LlamaCppConfig().cpus_per_job() == 1
    assert VllmConfig().cpus_per_job() == 1
    assert OpenAIConfig(base_url="http://h").cpus_per_job() == 1


# ---- postprocess.constrain -> engine.constrain --------------------------------------------------------

def test_constrain_moved_to_the_engine_keeps_the_fingerprint_and_the_old_key_is_read_with_one_line(caplog):
    legacy._said.clear()
    new = validate({"engine": {"constrain": "grounded"}})
    with caplog.at_level(logging.WARNING, logger="rephraser.config.legacy"):
        old = validate({"postprocess": {"constrain": "grounded"}}, origin="run.yaml")
        again = validate({"postprocess": {"constrain": "grounded"}}, origin="run.yaml")
    assert old.engine.constrain == again.engine.constrain == "grounded" and old.postprocess.constrain is None
    assert old.fingerprint() == new.fingerprint() == "534e449c347bdad8"  # pinned before the move
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["run.yaml: postprocess.constrain is deprecated, write engine.constrain instead (it is read as "
                     "that)"]
    assert "constrain" not in old.model_dump()["postprocess"] and old.model_dump()["engine"]["constrain"] == "grounded"


def test_both_places_of_constrain_must_agree():
    with pytest.raises(ConfigError, match="engine.constrain off and postprocess.constrain on .*disagree"):
        validate({"engine": {"constrain": "off"}, "postprocess": {"constrain": "on"}})
    assert validate({"engine": {"constrain": "on"}, "postprocess": {"constrain": "on"}}).engine.constrain == "on"


def test_the_constrain_flag_wins_over_the_old_key_of_the_file(tmp_path):
    from rephraser.commands.run import build_config

    path = tmp_path / "run.yaml"
    path.write_text("postprocess: {constrain: 'off'}\n")
    assert build_config(path, {"engine.constrain": "on"}).engine.constrain == "on"
    assert build_config(path, {}).engine.constrain == "off"


# ---- vLLM speculation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("ngram", {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 2, "prompt_lookup_max": 4}),
    ({"method": "ngram", "num_speculative_tokens": 8, "prompt_lookup_max": 6},
     {"method": "ngram", "num_speculative_tokens": 8, "prompt_lookup_min": 2, "prompt_lookup_max": 6}),
    ("suffix", {"method": "suffix"}),
    ({"method": "suffix", "num_speculative_tokens": 32}, {"method": "suffix", "num_speculative_tokens": 32}),
    ({"method": "draft_model", "model": "HuggingFaceTB/SmolLM2-135M-Instruct"},
     {"method": "draft_model", "num_speculative_tokens": 4, "model": "HuggingFaceTB/SmolLM2-135M-Instruct"}),
])
def test_vllm_speculation_becomes_its_speculative_config_engine_arg(given, expected):
    cfg = validate({"engine": {**VLLM, "speculative": given}})
    assert isinstance(cfg.engine.speculative, VllmSpeculation)
    args = build_engine_args(cfg.engine)
    assert args["speculative_config"] == expected
    assert args["model"] == VLLM["model"] and args["max_model_len"] == 8192


def test_vllm_speculation_off_passes_nothing_and_keeps_the_fingerprint():
    cfg = validate({"engine": {**VLLM, "speculative": "off"}})
    assert "speculative_config" not in build_engine_args(cfg.engine)
    assert cfg.fingerprint() == VLLM_FINGERPRINT


def test_vllm_speculation_on_is_another_run():
    ngram = validate({"engine": {**VLLM, "speculative": "ngram"}})
    suffix = validate({"engine": {**VLLM, "speculative": "suffix"}})
    longer = validate({"engine": {**VLLM, "speculative": {"method": "ngram", "num_speculative_tokens": 6}}})
    prints = {VLLM_FINGERPRINT, ngram.fingerprint(), suffix.fingerprint(), longer.fingerprint()}
    assert len(prints) == 4
    assert ngram.outcome_fields()["engine"]["speculative"]["method"] == "ngram"
    # written to config.yaml and read back: the same run
    assert RunConfig.model_validate(ngram.model_dump(mode="json")).fingerprint() == ngram.fingerprint()


@pytest.mark.parametrize("given, message", [
    ({"method": "draft_model"}, "draft model.*needed with method draft_model"),
    ({"method": "ngram", "model": "m"}, "needed with method draft_model, and only then"),
    ({"method": "suffix", "prompt_lookup_max": 3}, "prompt_lookup_min/max are the ngram method's"),
    ({"method": "ngram", "prompt_lookup_min": 5, "prompt_lookup_max": 3}, "prompt_lookup_min 5 is above"),
    ({"method": "eagle"}, "engine.speculative"),
    ("lookahead", "engine.speculative"),
])
def test_bad_vllm_speculation_is_one_line(given, message):
    with pytest.raises(ConfigError, match=message) as e:
        validate({"engine": {**VLLM, "speculative": given}})
    assert "\n" not in str(e.value)


def test_vllm_speculation_given_twice_is_refused():
    with pytest.raises(ConfigError, match="engine.speculative and engine_args.speculative_config both set"):
        validate({"engine": {**VLLM, "speculative": "ngram", "engine_args": {"speculative_config": {"method": "ngram"}}}})
    # the older engine_args routes still work alone
    cfg = validate({"engine": {**VLLM, "engine_args": {"ngram_speculation": 4}}})
    assert build_engine_args(cfg.engine)["speculative_config"]["method"] == "ngram"


def test_the_speculative_flag_reaches_a_vllm_engine():
    from rephraser.commands.run import build_config

    cfg = build_config(None, {"engine.kind": "vllm", "engine.model": "m", "engine.speculative": "suffix"})
    assert cfg.engine.speculative == VllmSpeculation(method="suffix")


def test_settings_say_what_speculation_each_engine_does():
    assert LlamaCppConfig().settings() == [("speculative decoding", "off")]
    assert LlamaCppConfig(speculative="ngram", speculative_max_draft=4).settings() == [
        ("speculative decoding", "ngram, at most 4 tokens guessed")]
    assert LlamaCppConfig(kv_cache="q8_0").settings() == [("speculative decoding", "off"), ("KV cache", "q8_0")]
    assert engine_config({**VLLM, "speculative": "ngram"}).settings() == [
        ("speculative decoding", "method ngram, num_speculative_tokens 4, prompt_lookup_min 2, prompt_lookup_max 4")]
    assert "server's own" in OpenAIConfig(base_url="http://h").settings()[0][1]


def test_plan_prints_the_engine_and_its_speculation(tmp_path, monkeypatch, capsys):
    import json

    from helpers import run_cli

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "text": f"Document {i}. " * 20}) + "\n" for i in range(5)))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"source: {{path: '{docs}'}}\nengine: {{kind: vllm, model: m, speculative: suffix}}\n")
    code, out, _ = run_cli(monkeypatch, capsys, "plan", "--config", str(cfg), "--reference", "SmolLM2-1.7B")
    assert code == 0 and "engine: kind: vllm; model: m; speculative decoding: method suffix\n" in out
    code, out, _ = run_cli(monkeypatch, capsys, "plan", "--config", str(cfg), "--reference", "SmolLM2-1.7B", "--json")
    assert json.loads(out)["engine"] == {"kind": "vllm", "model": "m", "speculative decoding": "method suffix"}
