"""Request control end to end against the loopback fake server: system prompts, structures per dialect,
faithfulness columns, best-of-N, and custom rollouts named by import path."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from helpers import read_rows, write_corpus
from rephraser.config import RunConfig
from rephraser.errors import ConfigError
from rephraser.generate.rollouts import Outcome, score_outcome
from rephraser.generate.runner import run_config

FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM_PROMPT = FIXTURES / "echo_system_structured.yaml"


def _cfg(url: str, corpus: Path, out: Path, **extra) -> RunConfig:
    base = {"source": {"path": str(corpus)}, "prompts": [str(SYSTEM_PROMPT)],
            "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
            "sampling": {"max_tokens": 64}, "output": {"dir": str(out)}}
    for k, v in extra.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.model_validate(base)


def test_system_prompt_structure_and_faithfulness_columns(tmp_path, fake_server):
    url = fake_server("--dialect", "vllm", "--strict-fields")
    corpus = write_corpus(tmp_path / "in.jsonl", 4)
    run_config(_cfg(url, corpus, tmp_path / "out", sampling={"preset": "small", "max_tokens": 64}), progress=False)
    bodies = httpx.get(f"{url}/requests").json()
    assert len(bodies) == 4
    b = bodies[0]
    assert b["messages"][0] == {"role": "system", "content": "You rewrite documents faithfully."}
    assert b["structured_outputs"]["regex"].startswith("Q: ")
    assert b["top_k"] == 40 and b["repetition_penalty"] == 1.1 and b["temperature"] == 0.7
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 4
    r = rows[0]
    assert r["constraint"] == "regex"
    assert r["sampling"]["repetition_penalty"] == 1.1
    # The fake echoes the document after "Q: What is this about?\nA: ": nothing is invented, everything recalled.
    assert r["invented_numbers"] == 0 and r["invented_entities"] == 0 and r["content_recall"] == 1.0
    assert 0 < r["novelty_3gram"] < 0.5
    from rephraser.postprocess.stats import compute_stats

    st = compute_stats(tmp_path / "out", quality=False)["prompts"]["echo_structured"]
    assert st["faithfulness"]["invented_number_rate"] == 0.0 and st["faithfulness"]["mean_content_recall"] == 1.0
    assert st["constrained_share"] == 1.0


def test_constrain_off_sends_no_structure_and_changes_the_cache_key(tmp_path, fake_server):
    url = fake_server("--dialect", "vllm", "--strict-fields")
    corpus = write_corpus(tmp_path / "in.jsonl", 2)
    run_config(_cfg(url, corpus, tmp_path / "off", postprocess={"constrain": "off"}), progress=False)
    assert all("structured_outputs" not in b for b in httpx.get(f"{url}/requests").json())
    assert {r["constraint"] for r in read_rows(tmp_path / "off")} == {None}


def test_constrain_on_with_a_server_that_cannot_is_one_line_error(tmp_path, fake_server):
    url = fake_server("--dialect", "openai")
    corpus = write_corpus(tmp_path / "in.jsonl", 2)
    with pytest.raises(ConfigError, match="declares a regex structure; engine openai can enforce: json_schema"):
        run_config(_cfg(url, corpus, tmp_path / "on", postprocess={"constrain": "on"}), progress=False)


def test_custom_rollout_by_import_path(tmp_path, fake_server, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 3)
    run_config(_cfg(url, corpus, tmp_path / "c", rollout={"kind": "custom", "function": "custom_rollouts:draft_then_fix"}),
               progress=False)
    rows = read_rows(tmp_path / "c")
    assert len(rows) == 3 and all(r["calls"] == 2 and r["rollout"] == "custom" for r in rows)
    assert httpx.get(f"{url}/stats").json()["requests"] == 6
    run_config(_cfg(url, corpus, tmp_path / "g", rollout={"kind": "custom", "function": "custom_rollouts:gives_up"}),
               progress=False)
    assert {r["reason"] for r in read_rows(tmp_path / "g", "rejected")} == {"custom rollout returned no output"}
    for bad, msg in (("custom_rollouts:not_async", "must be an async function"),
                     ("no_such_module:f", "cannot import"), ("custom_rollouts:nope", "has no attribute")):
        with pytest.raises(ConfigError, match=msg):
            run_config(_cfg(url, corpus, tmp_path / "x", rollout={"kind": "custom", "function": bad}), progress=False)
        assert not (tmp_path / "x").exists()  # refused before any output
    sys.modules.pop("custom_rollouts", None)


def _outcome(ok: bool, text: str, **faith) -> Outcome:
    return Outcome(ok=ok, text=text, raw=text, reason=None, finish_reason="stop", prompt_tokens=1, completion_tokens=1,
                   calls=1, attempts=1, input_truncated=False, input_chars=10, faith=faith)


def test_best_of_n_prefers_contract_then_faithfulness_then_length():
    src = 100
    compliant_inventive = _outcome(True, "x" * 100, invented_numbers=3, invented_entities=1, content_recall=0.9)
    compliant_faithful = _outcome(True, "x" * 300, invented_numbers=0, invented_entities=0, content_recall=0.5)
    rejected_perfect = _outcome(False, "x" * 100, invented_numbers=0, invented_entities=0, content_recall=1.0)
    ranked = sorted([compliant_inventive, compliant_faithful, rejected_perfect], key=lambda o: score_outcome(o, src),
                    reverse=True)
    assert ranked == [compliant_faithful, compliant_inventive, rejected_perfect]
    more_recall = _outcome(True, "x" * 300, invented_numbers=0, invented_entities=0, content_recall=0.8)
    assert score_outcome(more_recall, src) > score_outcome(compliant_faithful, src)
