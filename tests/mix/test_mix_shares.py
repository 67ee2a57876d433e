"""Mixing: requested token shares are met, selection is deterministic by seed, repetition is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.errors import ConfigError, SourceError
from rephraser.mix.config import MixComponent, MixConfig, parse_component
from rephraser.mix.counting import ByteEstimateCounter
from rephraser.mix.mixer import allocate, run_mix
from rephraser.mix.tokenize import train_bpe


def _mix(tmp_path: Path, components: list[MixComponent], tokens: int, seed: int = 0, name: str = "mix", **kw) -> dict:
    cfg = MixConfig(components=components, tokens=tokens, seed=seed, output=str(tmp_path / name), **kw)
    return run_mix(cfg)


def _rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_shares_within_one_percent_and_rows_add_up(tmp_path, run_table, source_jsonl):
    comps = [MixComponent(path=str(run_table), weight=0.7), MixComponent(path=str(source_jsonl), weight=0.3)]
    m = _mix(tmp_path, comps, tokens=5000)
    assert m["token_counter"] == "bytes/4"
    assert m["achieved_tokens"] == 5000
    for c in m["components"]:
        assert abs(c["achieved_share"] - c["requested_share"]) < 0.01
    assert [c["kind"] for c in m["components"]] == ["rephrased", "source"]
    rows = _rows(tmp_path / "mix")
    assert sum(r["tokens"] for r in rows) == 5000
    counter = ByteEstimateCounter()
    assert all(counter.count([r["text"]])[0] == r["tokens"] for r in rows)
    by_comp = {c["name"]: sum(r["tokens"] for r in rows if r["component"] == c["name"]) for c in m["components"]}
    assert by_comp == {"run_table": 3500, "web.jsonl": 1500}
    # empty and rejected rows of the run folder are reported, never mixed
    assert m["components"][0]["skipped_inputs"] == {"empty generation": 1, "status=rejected": 1}
    assert not any(r["origin_id"].startswith(("table:docX", "table:docY")) for r in rows)


def test_repetition_is_recorded_when_a_component_runs_out(tmp_path, run_table, source_jsonl):
    comps = [MixComponent(path=str(run_table), weight=0.5), MixComponent(path=str(source_jsonl), weight=0.5)]
    m = _mix(tmp_path, comps, tokens=40_000)
    for c in m["components"]:
        assert c["epochs"] == pytest.approx(c["requested_tokens"] / c["available_tokens"], abs=1.0)
        assert c["epochs"] >= 2 and c["repeat_factor"] > 1
        assert c["unique_documents"] == c["available_documents"]
        assert abs(c["achieved_share"] - 0.5) < 0.01
    rows = _rows(tmp_path / "mix")
    assert max(r["epoch"] for r in rows) == max(c["epochs"] for c in m["components"]) - 1
    assert sum(r["truncated"] for r in rows) <= 2  # at most the crossing document of each component


def test_deterministic_by_seed(tmp_path, run_table, source_jsonl):
    comps = [MixComponent(path=str(run_table), weight=0.6), MixComponent(path=str(source_jsonl), weight=0.4)]
    _mix(tmp_path, comps, 3000, seed=1, name="a")
    _mix(tmp_path, comps, 3000, seed=1, name="b")
    _mix(tmp_path, comps, 3000, seed=2, name="c")
    a, b, c = (_rows(tmp_path / n) for n in "abc")
    assert a == b
    assert [r["origin_id"] for r in a] != [r["origin_id"] for r in c]
    assert (tmp_path / "a" / "data" / "part-00000.parquet").read_bytes() == (
        tmp_path / "b" / "data" / "part-00000.parquet"
    ).read_bytes()


def test_prompt_filter_and_tokenizer_counter(tmp_path, source_jsonl, run_folder):
    run = run_folder(tmp_path / "run", "faq", 30)
    run_folder(run, "math", 30)
    texts = [json.loads(line)["text"] for line in source_jsonl.read_text().splitlines()]
    tok = train_bpe(texts * 3, vocab_size=400)
    tok.save(str(tmp_path / "tok.json"))
    comps = [parse_component(f"{run}#math:3"), parse_component(f"{source_jsonl}:1")]
    m = _mix(tmp_path, comps, tokens=4000, tokenizer=str(tmp_path / "tok.json"))
    assert m["token_counter"].startswith("tokenizer:")
    assert m["components"][0]["name"] == "run#math"
    rows = _rows(tmp_path / "mix")
    assert {r["origin_id"].split(":")[0] for r in rows if r["component"] == "run#math"} == {"math"}
    for c in m["components"]:
        assert abs(c["achieved_share"] - c["requested_share"]) < 0.01
    for r in rows:  # recorded counts are the tokenizer's own counts
        assert len(tok.encode(r["text"], add_special_tokens=False).ids) == r["tokens"]


def test_allocate_sums_exactly():
    assert allocate(10, [1 / 3, 1 / 3, 1 / 3]) == [4, 3, 3]
    assert sum(allocate(1_000_003, [0.7, 0.2, 0.1])) == 1_000_003


def test_bad_inputs_are_one_line_errors(tmp_path, run_table):
    with pytest.raises(ConfigError, match="PATH:WEIGHT"):
        parse_component("no-weight-here")
    with pytest.raises(ConfigError, match="not a number"):
        parse_component("x:abc")
    with pytest.raises(ConfigError, match="no prompt 'math'"):
        _mix(tmp_path, [MixComponent(path=str(run_table), weight=1, prompt="math")], 100)
    with pytest.raises(SourceError):
        _mix(tmp_path, [MixComponent(path=str(tmp_path / "missing.jsonl"), weight=1)], 100, name="m2")
    with pytest.raises(ValueError, match="unique"):
        MixConfig(components=[MixComponent(path="a/x", weight=1), MixComponent(path="b/x", weight=1)], tokens=5)
    _mix(tmp_path, [MixComponent(path=str(run_table), weight=1)], 100, name="m3")
    with pytest.raises(ConfigError, match="--overwrite"):
        _mix(tmp_path, [MixComponent(path=str(run_table), weight=1)], 100, name="m3")
