"""Grid expansion and stage keys: adding a seed or a prompt adds only the stages it needs."""

import pytest

from rephraser.config import validate
from rephraser.errors import ConfigError
from rephraser.experiments.cells import expand, select_cells, unique_stages
from rephraser.experiments.config import ExperimentConfig

BASE = {
    "name": "t",
    "prompts": ["faq", "table"],
    "generators": {"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}}},
    "mix": {"ratios": [0.5], "tokens": 1000},
    "seeds": [0, 1],
    "train": {"preset": "tiny-1m", "steps": 2},
}


def cfg(**changes) -> ExperimentConfig:
    return validate({**BASE, **changes}, ExperimentConfig)


def keys(c: ExperimentConfig) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in unique_stages(expand(c)):
        out.setdefault(s.kind, set()).add(s.key)
    return out


def test_expansion_names_and_counts():
    cells = expand(cfg())
    assert [c.name for c in cells] == ["baseline-source_only", "faq/mix50", "table/mix50"]
    k = keys(cfg())
    # one source split and one tokenizer shared by all; 2 generations; 3 mixtures; 3 x 2 seeds trained
    assert {kind: len(v) for kind, v in k.items()} == {
        "source": 1, "tokenizer": 1, "generate": 2, "mix": 3, "tokenize": 3, "train": 6, "evaluate": 6}


def test_adding_a_seed_adds_only_train_and_evaluate():
    before, after = keys(cfg()), keys(cfg(seeds=[0, 1, 2]))
    for kind in ("source", "tokenizer", "generate", "mix", "tokenize"):
        assert after[kind] == before[kind], kind
    assert before["train"] < after["train"] and len(after["train"] - before["train"]) == 3
    assert len(after["evaluate"] - before["evaluate"]) == 3


def test_adding_a_prompt_adds_only_its_own_chain():
    before, after = keys(cfg()), keys(cfg(prompts=["faq", "table", "math"]))
    assert after["source"] == before["source"] and after["tokenizer"] == before["tokenizer"]
    for kind, n in (("generate", 1), ("mix", 1), ("tokenize", 1), ("train", 2), ("evaluate", 2)):
        assert before[kind] < after[kind] and len(after[kind] - before[kind]) == n, kind


def test_changing_sampling_redoes_generation_but_not_the_baseline():
    changed = cfg(generation={"sampling": {"temperature": 0.7}})
    base_cells = {c.name: c for c in expand(cfg())}
    new_cells = {c.name: c for c in expand(changed)}
    assert new_cells["baseline-source_only"].evaluate[(0, None)].key == base_cells["baseline-source_only"].evaluate[(0, None)].key
    assert new_cells["faq/mix50"].generate.key != base_cells["faq/mix50"].generate.key
    # a speed-only engine knob is not part of any key
    faster = cfg(generators={"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m", "parallel": 2}}})
    assert keys(faster) == keys(cfg())


def test_generator_restricted_prompts_and_multi_axis_names():
    c = cfg(generators={"small": {"engine": {"model": "smollm2-135m"}},
                        "base": {"engine": {"model": "gemma3-270m"}, "prompts": ["continue"]}},
            mix={"ratios": [0.5, 0.7], "tokens": 1000})
    names = [x.name for x in expand(c)]
    assert names == ["baseline-source_only", "faq-small/mix50", "faq-small/mix70", "table-small/mix50",
                     "table-small/mix70", "continue-base/mix50", "continue-base/mix70"]
    assert [x.name for x in select_cells(expand(c), ["continue*"])] == ["continue-base/mix50", "continue-base/mix70"]
    with pytest.raises(ConfigError, match="matches no cell"):
        select_cells(expand(c), ["nope"])


@pytest.mark.parametrize("change, message", [
    ({"promts": ["faq"]}, "promts"),
    ({"train": {"preset": "tiny-1m", "seed": 3}}, "set by the grid"),
    ({"train": {"preset": "tiny-1m", "stesp": 3}}, "stesp"),
    ({"mix": {"ratios": [0.0], "tokens": 10}}, "source. baseline"),
    ({"mix": {"ratios": [0.501, 0.499], "tokens": 10}}, "whole percent"),
    ({"compare_to": "dclm"}, "not a baseline"),
    ({"generators": {"a-b": {}}}, "must match"),
    ({"baselines": {"x": {"kind": "dataset"}}}, "needs `path`"),
])
def test_bad_configs_are_one_line_errors(change, message):
    with pytest.raises(ConfigError, match=message) as e:
        cfg(**change)
    assert "\n" not in str(e.value)
