"""The study's axes beyond prompt x generator x source x ratio x seed: each expands to the right cells and
stage keys, shares what it should, and bad input is a one-line error."""

import subprocess
import sys

import pytest
import yaml

from rephraser.config import validate
from rephraser.errors import ConfigError
from rephraser.experiments.cells import expand, unique_stages
from rephraser.experiments.config import ExperimentConfig

BASE = {
    "name": "t",
    "prompts": ["faq", "table"],
    "generators": {"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}}},
    "mix": {"ratios": [0.5], "tokens": 1000},
    "seeds": [0],
    "train": {"preset": "tiny-1m", "steps": 10},
}


def cfg(**changes) -> ExperimentConfig:
    return validate({**BASE, **changes}, ExperimentConfig)


def by_name(c: ExperimentConfig) -> dict:
    return {cell.name: cell for cell in expand(c)}


def stage_keys(c: ExperimentConfig, kind: str) -> set[str]:
    return {s.key for s in unique_stages(expand(c)) if s.kind == kind}


def test_mix_with_a_corpus_other_than_the_source():
    c = cfg(corpora={"dclm": {"path": "data/dclm"}}, mix={"ratios": [0.5], "tokens": 1000, "mix_with": ["source", "dclm"]})
    cells = by_name(c)
    assert list(cells) == ["baseline-source_only", "faq-with_source/mix50", "faq-with_dclm/mix50",
                           "table-with_source/mix50", "table-with_dclm/mix50"]
    own, dclm = cells["faq-with_source/mix50"], cells["faq-with_dclm/mix50"]
    assert own.generate.key == dclm.generate.key  # one generation, mixed two ways
    assert own.mix.key != dclm.mix.key
    assert dclm.mix.spec.as_json()["components"][1] == {"kind": "dataset", "path": "data/dclm", "prompt": None,
                                              "text_column": "text", "weight": 0.5}
    assert dclm.mix_with == "dclm" and own.mix_with == "source"
    # naming the default changes names only, not the stages: keys equal the plain grid's
    assert own.mix.key == by_name(cfg())["faq/mix50"].mix.key


def test_several_prompts_mixed_in_one_cell_reuse_their_generations():
    c = cfg(prompt_mixes={"faq_table": ["faq", "table"]})
    cells = by_name(c)
    mixed = cells["faq_table/mix50"]
    assert [g.key for g in mixed.generates] == [cells["faq/mix50"].generate.key, cells["table/mix50"].generate.key]
    comps = mixed.mix.spec.as_json()["components"]
    assert [(x["kind"], x.get("prompt"), x["weight"]) for x in comps] == [
        ("rephrased", "faq", 0.25), ("rephrased", "table", 0.25), ("source", None, 0.5)]
    assert stage_keys(c, "generate") == stage_keys(cfg(), "generate")  # no new generation


def test_student_size_axis_shares_mixtures_and_names_the_student():
    c = cfg(students={"s1m": {"train": {"preset": "tiny-1m"}}, "s8m": {"train": {"preset": "mini-8m", "batch_size": 8}}})
    cells = by_name(c)
    assert "faq-s1m/mix50" in cells and "faq-s8m/mix50" in cells and "baseline-source_only-s8m" in cells
    small, big = cells["faq-s1m/mix50"], cells["faq-s8m/mix50"]
    assert small.mix.key == big.mix.key and small.stages()[-3].key == big.stages()[-3].key  # same tokenize
    run = (0, None)
    assert big.train[run].spec.as_json()["train"]["preset"] == "mini-8m" and small.train[run].key != big.train[run].key
    assert (small.student, big.student, big.base_name) == ("s1m", "s8m", "faq/mix50")


def test_training_and_data_seeds_cross_and_default_keys_stay():
    c = cfg(seeds=[0, 1, 2], data_seeds=[0, 1, 2])
    cell = by_name(c)["faq/mix50"]
    assert sorted(cell.train) == [(s, d) for s in range(3) for d in range(3)]
    assert len({s.key for s in cell.train.values()}) == 9
    assert cell.train[(1, 2)].spec.as_json()["seed"] == 1 and cell.train[(1, 2)].spec.as_json()["data_seed"] == 2
    plain = by_name(cfg(seeds=[0, 1, 2]))["faq/mix50"]
    assert sorted(plain.train) == [(0, None), (1, None), (2, None)] and "data_seed" not in plain.train[(1, None)].spec.as_json()
    # a 3 x 3 grid only where the noise is measured
    grid = by_name(cfg(seed_grids=[{"cells": ["baseline-*"], "seeds": [0, 1, 2], "data_seeds": [0, 1, 2]}]))
    assert len(grid["baseline-source_only"].train) == 9 and list(grid["faq/mix50"].train) == [(0, None)]


def test_decay_branches_start_from_the_trunk_checkpoint():
    c = cfg(decay=[{"cells": ["faq/*"], "from": "baseline-source_only", "at_step": 8, "steps": 2}])
    cells = by_name(c)
    trunk, branch, plain = cells["baseline-source_only"], cells["faq/mix50"], cells["table/mix50"]
    run = (0, None)
    assert trunk.train[run].key == by_name(cfg())["baseline-source_only"].train[run].key  # the trunk is unchanged
    assert trunk.train[run] in branch.train[run].deps and trunk.train[run].meta.keep_steps == [8]
    spec = branch.train[run].spec.as_json()
    assert spec["decay"] == {"at_step": 8, "steps": 2} and spec["train"]["steps"] == 10
    assert spec["train"]["decay_frac"] == pytest.approx(0.2)
    assert branch.decay_from == "baseline-source_only" and plain.decay_from is None
    assert "decay" not in plain.train[run].spec.as_json()


def test_per_generator_shares_mix_ins_and_students_restrict_the_cross_product():
    c = cfg(generators={"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}},
                        "sweep": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}, "prompts": ["table"],
                                  "ratios": [0.7, 1.0], "mix_with": ["dclm"]}},
            corpora={"dclm": {"path": "d"}},
            students={"s1m": {"train": {"preset": "tiny-1m"}}, "s8m": {"train": {"preset": "mini-8m"}, "cells": ["table-*"]}})
    names = list(by_name(c))
    assert "table-sweep-with_dclm-s1m/mix70" in names and "table-sweep-with_dclm-s1m/mix100" in names
    assert "faq-sweep-with_dclm-s1m/mix70" not in names and "faq-small-with_source-s1m/mix50" in names
    assert "faq-small-with_source-s8m/mix50" not in names and "table-small-with_source-s8m/mix50" in names
    cells = by_name(c)  # same engine + prompt under two generator names: one generation
    assert cells["table-sweep-with_dclm-s1m/mix70"].generate.key == cells["table-small-with_source-s1m/mix50"].generate.key


def test_a_fully_synthetic_cell():
    cell = by_name(cfg(mix={"ratios": [0.5, 1.0], "tokens": 1000}))["faq/mix100"]
    assert cell.ratio == 1.0 and cell.mix.spec.as_json()["components"] == [{"kind": "rephrased", "prompt": "faq", "weight": 1.0}]


@pytest.mark.parametrize("changes, message", [
    ({"train": {"preset": "huge-9t", "steps": 10}}, "train: unknown preset 'huge-9t'"),
    ({"students": {"big": {"train": {"preset": "nope"}}}}, "students.big: unknown preset 'nope'"),
    ({"mix": {"ratios": [0.5], "tokens": 1000, "mix_with": ["dclm"]}}, "mix.mix_with: unknown corpus 'dclm'"),
    ({"train": {"preset": "tiny-1m", "steps": 10, "batch_size": 12, "device": "cuda"}},
     "batch_size 12 is not divisible by the world size 8"),
    ({"prompt_mixes": {"solo": ["faq"]}}, "prompt_mixes.solo: give at least two different prompts"),
])
def test_bad_grid_config_is_one_error(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cfg(**changes)


@pytest.mark.parametrize("decay, message", [
    ([{"cells": ["faq/*"], "from": "table/mix50", "at_step": 4, "steps": 2},
      {"cells": ["table/*"], "from": "faq/mix50", "at_step": 4, "steps": 2}],
     "cycle in checkpoint dependencies: faq/mix50 -> table/mix50 -> faq/mix50"),
    ([{"cells": ["faq/*"], "from": "faq/mix50", "at_step": 4, "steps": 2}], "cycle in checkpoint dependencies"),
    ([{"cells": ["faq/*"], "from": "nope", "at_step": 4, "steps": 2}], "decay: no cell named 'nope'"),
    ([{"cells": ["faq/*"], "from": "baseline-source_only", "at_step": 10, "steps": 2}],
     "past the stable phase of baseline-source_only"),
])
def test_bad_decay_rules_are_one_error(decay, message):
    with pytest.raises(ConfigError, match=message):
        expand(cfg(decay=decay))


def test_cli_errors_are_one_line(tmp_path):
    """Through the CLI: a missing mix-in path stops `experiment run` before any stage (a dry run still plans)."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({**BASE, "output": str(tmp_path / "out"), "corpora": {"dclm": {"path": "no/such"}},
                                    "mix": {"ratios": [0.5], "tokens": 1000, "mix_with": ["dclm"]}}))
    cmd = [sys.executable, "-m", "rephraser.cli", "experiment", "run", str(grid)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: corpora.dclm.path: no/such does not exist"
    assert not (tmp_path / "out").exists()
    r = subprocess.run([*cmd, "--executor", "slurm", "--no-submit"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "no/such does not exist" in r.stderr and "Traceback" not in r.stderr
    grid.write_text(yaml.safe_dump({**BASE, "decay": [{"cells": ["*"], "from": "faq/mix50", "at_step": 4, "steps": 2}]}))
    r = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cycle in checkpoint dependencies" in r.stderr
