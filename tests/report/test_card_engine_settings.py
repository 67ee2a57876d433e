"""The dataset card names the engine's own settings (speculation) from the run's config.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from rephraser.config import RunConfig
from rephraser.report.card import build_card


def _with_engine(run: Path, engine: dict) -> None:
    cfg = RunConfig.model_validate({"prompts": ["faq", "table"], "engine": engine, "output": {"dir": str(run)}})
    (run / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")


def test_card_shows_vllm_speculation(small_run: Path) -> None:
    _with_engine(small_run, {"kind": "vllm", "model": "m", "speculative": {"method": "ngram",
                                                                          "num_speculative_tokens": 6}})
    text = build_card(small_run)
    assert ("- Speculative decoding: method ngram, num_speculative_tokens 6, prompt_lookup_min 2, "
            "prompt_lookup_max 4\n") in text


def test_card_shows_the_embedded_and_the_server_setting(small_run: Path) -> None:
    assert "- Speculative decoding: off\n" in build_card(small_run)
    _with_engine(small_run, {"speculative": "ngram"})
    assert "- Speculative decoding: ngram, at most 8 tokens guessed\n" in build_card(small_run)
    _with_engine(small_run, {"kind": "openai", "base_url": "http://h"})
    assert "- Speculative decoding: the server's own (its start flags; not recorded)\n" in build_card(small_run)


def test_card_reads_a_config_yaml_of_the_flat_engine_section(small_run: Path) -> None:
    data = yaml.safe_load((small_run / "config.yaml").read_text())
    data["engine"] = {"kind": "vllm", "model": "m", "n_ctx": 4096, "parallel": 8, "threads": None,
                      "context_aware_alpha": 0.0, "speculative": "off", "speculative_max_draft": 8, "n_batch": None,
                      "cpu_wait": "bounded", "base_url": None, "api_key_env": None, "tokenizer": None,
                      "server": None, "request_timeout_s": 600.0, "engine_args": {}, "chat_template_kwargs": {},
                      "dialect": "auto"}
    (small_run / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert "- Speculative decoding: off\n" in build_card(small_run)
