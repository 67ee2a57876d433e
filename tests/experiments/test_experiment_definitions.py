"""A grid can score its cells with the study's lighteval definitions; the defaults keep stage keys."""

from __future__ import annotations

from rephraser.config import validate
from rephraser.experiments.cells import expand, unique_stages
from rephraser.experiments.config import ExperimentConfig

BASE = {
    "name": "t",
    "prompts": ["faq"],
    "generators": {"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}}},
    "mix": {"ratios": [0.5], "tokens": 1000},
    "train": {"preset": "tiny-1m", "steps": 2},
}


def stages(eval_spec: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in unique_stages(expand(validate({**BASE, "eval": eval_spec}, ExperimentConfig))):
        out.setdefault(s.kind, set()).add(s.key)
    return out


def test_definitions_change_only_evaluate_stages_and_defaults_change_nothing():
    plain, explicit = stages({}), stages({"definitions": "rephraser", "prob_variant": "gold"})
    assert plain == explicit  # a default written out does not re-run anything
    study = stages({"definitions": "lighteval", "prob_variant": "all"})
    assert study["evaluate"].isdisjoint(plain["evaluate"])
    assert {k: v for k, v in study.items() if k != "evaluate"} == {k: v for k, v in plain.items() if k != "evaluate"}
    spec = next(s for s in unique_stages(expand(validate({**BASE, "eval": {"definitions": "lighteval"}},
                                                         ExperimentConfig))) if s.kind == "evaluate").spec.as_json()
    assert spec["eval"]["definitions"] == "lighteval" and "prob_variant" not in spec["eval"]
