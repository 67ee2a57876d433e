"""Stage keys, the specs written into stage markers, run metadata and executor jobs of the shipped grids
(and of one small grid that uses every stage kind and axis), pinned as literal values computed before the
stage seam was typed: a refactor that changes any of them would make finished grids redo their stages.

A value here only changes when a stage's inputs change on purpose (and then every grid reruns that stage)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from rephraser.config import load_yaml, validate
from rephraser.experiments.cells import Stage, expand, run_label, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.jobs import plan_jobs

ALL_KINDS: dict[str, Any] = {
    "name": "pins",
    "prompts": ["faq", "table", "math"],
    "generators": {
        "small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m", "threads": 2}},
        "api": {"engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
                "prompts": ["faq", "math"], "ratios": [0.3, 1.0], "mix_with": ["source", "web"], "constrain": "on"},
    },
    "sources": {"wiki": {"source": {"path": None, "limit": 200}, "rephrase_docs": 20},
                "wiki2": {"source": {"path": None, "limit": 100}, "rephrase_docs": 10, "rephrase_pick": "spread"}},
    "generation": {"sampling": {"temperature": 0.7, "max_tokens": 64}, "shards": 2},
    "mix": {"ratios": [0.5], "tokens": 1000, "seed": 3},
    "seeds": [0, 1],
    "seed_grids": [{"cells": ["baseline-corpus"], "seeds": [0], "data_seeds": [0, 2]}],
    "baselines": {"source_only": {"kind": "source"}, "corpus": {"kind": "dataset", "path": "data/corpus"}},
    "corpora": {"web": {"path": "data/web", "text_column": "body"}},
    "prompt_mixes": {"faq_table": ["faq", "table"]},
    "routings": {"nums": {"routes": [{"name": "n", "when": {"numbers": 1}, "prompts": ["math"]}],
                          "default": {"prompts": ["faq"]}}},
    "students": {"s1": {"train": {"preset": "tiny-1m"}},
                 "s2": {"train": {"preset": "tiny-1m", "lr": 0.001}, "cells": ["faq*", "baseline-*"]}},
    "decay": [{"cells": ["table-*"], "from": "baseline-source_only", "at_step": 2, "steps": 2}],
    "tokenizer": {"vocab_size": 300, "max_docs": 50},
    "train": {"preset": "tiny-1m", "steps": 6, "batch_size": 2},
    "eval": {"profile": "quick", "max_items": 5, "definitions": "lighteval", "heldout_docs": 10},
    "cluster": {"cpu_train_ranks": 2},
}


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, default=_plain).encode()).hexdigest()[:16]


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(type(obj))


def _spec(stage: Stage) -> Any:
    """What a stage's marker records as its spec (and its key hashes), in the marker's key order."""
    return stage.spec.as_json()


def _meta(stage: Stage) -> dict[str, Any]:
    """How a stage runs (not part of its key), as the stages read it; the fields a stage did not set are
    left out, as the untyped metadata these values were pinned from left them out."""
    unset = {"prompt_refs": None, "routing": None, "keep_steps": []}
    fields = {k: v for k, v in vars(stage.meta).items() if k not in unset or v != unset[k]}
    return {k: fields[k] for k in sorted(fields)}


def fingerprint(cfg: ExperimentConfig) -> dict[str, Any]:
    stages = unique_stages(expand(cfg))
    out = Path("/OUT")
    jobs = plan_jobs(cfg, expand(cfg), out, out / "experiment.yaml")
    return {
        "stages": len(stages),
        "keys": _sha([[s.kind, s.key] for s in stages]),
        "specs": _sha([[s.kind, _spec(s), [[d.kind, d.key] for d in s.deps]] for s in stages]),
        "meta": _sha([_meta(s) for s in stages]),
        "jobs": _sha([[j.name, j.argv, j.shards, j.gpus, j.cpus, j.nodes, j.ranks, j.torchrun, j.engine_kind, j.deps]
                      for j in jobs]),
    }


PINNED: dict[str, dict[str, Any]] = {
    "finephrase": {"stages": 502, "keys": "59ba7954519c042b", "specs": "e70fd8d0a1c4e9e6", "meta": "adfd6c370bf53a57",
                   "jobs": "b890fa6eb39b5014"},
    "mini_ablation": {"stages": 91, "keys": "80ffcc224cb4c35c", "specs": "f4f230fd14b7034a", "meta": "6e1a550ef18c9789",
                      "jobs": "e20c6d13c49b199a"},
    "routing_ablation": {"stages": 55, "keys": "25592badfc94dfec", "specs": "bc3361b79065c815",
                         "meta": "ad2a1f628a4ddfe3", "jobs": "1dd61aafc79dd086"},
    "all_kinds": {"stages": 233, "keys": "c493bd4bd6c27834", "specs": "5bfa9351b1ae14c9", "meta": "9daf59e893f38a23",
                  "jobs": "00bd3bc4948794a6"},
}

# one cell per axis of ALL_KINDS: data seeds + dataset baseline, corpus mix-in + spread pick, prompt mix,
# routed cell, decay branch (trained from a trunk checkpoint)
ALL_KINDS_CELLS: dict[str, dict[str, Any]] = {
    "baseline-corpus-s2": {
        "generate": [], "mix": "45d15d5594ef7fcc",
        "train": {"seed0-data0": "ed2555ee7ce12b45", "seed0-data2": "c9ac352f6b49fcbb"},
        "evaluate": {"seed0-data0": "e63fda480bb1dba0", "seed0-data2": "7fc7b5007e90ab53"}, "decay_from": None},
    "faq-api-wiki2-with_web-s1/mix30": {
        "generate": ["0b57274d184c331b"], "mix": "a215eb7190719ba6",
        "train": {"seed0": "110f80d958c74ee2", "seed1": "afce8aaf7cc00be8"},
        "evaluate": {"seed0": "956fa59134fc1a56", "seed1": "f516aecaed7431a3"}, "decay_from": None},
    "faq_table-small-wiki-with_source-s2/mix50": {
        "generate": ["6fa526c34af6a37e", "ff6833b9b417f6ed"], "mix": "3e1061022ff87388",
        "train": {"seed0": "6fd862c32503bbd6", "seed1": "eb984ff4fc62d8bf"},
        "evaluate": {"seed0": "93ba024408708eda", "seed1": "dc4866961639938a"}, "decay_from": None},
    "routed_nums-api-wiki-s1/mix30": {
        "generate": ["72d9bd2540e0ef45"], "mix": "061da4a008bb1e7d",
        "train": {"seed0": "33426abb5ac3307c", "seed1": "4b5d4b40bcfb8696"},
        "evaluate": {"seed0": "1ba699e4a352f26f", "seed1": "2c48529a1e9280da"}, "decay_from": None},
    "table-small-wiki-with_source-s1/mix50": {
        "generate": ["ff6833b9b417f6ed"], "mix": "1a09de30a8e8f8a8",
        "train": {"seed0": "c2e1c7c7f9bdd867", "seed1": "bb50456ce097fe74"},
        "evaluate": {"seed0": "d973e177fe317b6f", "seed1": "996e7ed2505f5c1a"},
        "decay_from": "baseline-source_only-s1"},
}
ALL_KINDS_SHARED = {"source": "576252e9a9f5e8a6", "tokenizer": "c97074c5f7684432"}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_grid_stages_are_pinned(repo_root, name):
    if name == "all_kinds":
        cfg = validate(ALL_KINDS, ExperimentConfig)
    else:
        cfg = load_yaml(repo_root / "examples" / f"{name}.yaml", ExperimentConfig)
    assert fingerprint(cfg) == PINNED[name]


def test_every_stage_kind_is_pinned_by_key():
    cells = {c.name: c for c in expand(validate(ALL_KINDS, ExperimentConfig))}
    for name, want in ALL_KINDS_CELLS.items():
        c = cells[name]
        assert c.mix is not None
        got = {"generate": [g.key for g in c.generates], "mix": c.mix.key,
               "train": {run_label(r): s.key for r, s in c.train.items()},
               "evaluate": {run_label(r): s.key for r, s in c.evaluate.items()}, "decay_from": c.decay_from}
        assert got == want, name
    first: dict[str, str] = {}
    for s in unique_stages(list(cells.values())):
        first.setdefault(s.kind, s.key)
    assert {k: first[k] for k in ALL_KINDS_SHARED} == ALL_KINDS_SHARED
