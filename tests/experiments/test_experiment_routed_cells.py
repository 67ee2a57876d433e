"""Routed cells of a grid: one generate stage runs every route prompt with the routes, the mixture takes
all of its outputs at the cell's share (the same token budget as every other cell), and the routes are in
the stage key; the shipped routing grid and the finephrase variant expand as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rephraser.config import load_yaml, validate
from rephraser.errors import ConfigError
from rephraser.experiments.cells import expand
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import SourceStage, generation_config

BASE = {
    "prompts": ["table", "math", "faq"],
    "generators": {"g": {"engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}},
                   "h": {"engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "n"},
                         "prompts": ["faq"]}},
    "mix": {"tokens": 1000},
    "routings": {"filter": {"routes": [{"name": "nums", "when": {"numbers": 1}, "prompts": ["math"]}],
                            "default": {"prompts": ["faq"]}},
                 "uniform": {"default": {"prompts": {"table": 1, "math": 1, "faq": 1}}}},
}


def _cells(**changes):
    return {c.name: c for c in expand(validate({**BASE, **changes}, ExperimentConfig))}


def test_routed_cells_generate_once_and_mix_every_output(tmp_path):
    cells = _cells()
    routed = cells["routed_filter-g/mix50"]
    assert routed.routing == "filter" and routed.describe()["routing"] == "filter"
    assert "routed_filter-h/mix50" not in cells  # h lacks math: no routed cell for it
    gen = routed.generate
    assert gen.meta.prompt_refs == ["math", "faq"] and gen.spec.as_json()["run"]["routing"]["routes"][0]["name"] == "nums"
    assert routed.mix.spec.as_json()["components"] == [{"kind": "rephrased", "prompt": "filter", "routed": True, "weight": 0.5},
                                             {"kind": "source", "weight": 0.5}]
    assert routed.mix.spec.as_json()["tokens"] == cells["math-g/mix50"].mix.spec.as_json()["tokens"]  # the same token budget
    run = generation_config(gen, validate(BASE, ExperimentConfig), tmp_path)
    assert run.prompts == ["math", "faq"] and run.routing.routes[0].name == "nums"
    # the routes are in the key; a grid without routings keeps every other stage key
    other = _cells(routings={**BASE["routings"], "filter": {**BASE["routings"]["filter"], "seed": 5}})
    assert other["routed_filter-g/mix50"].generate.key != gen.key
    plain = _cells(routings={})
    assert plain["math-g/mix50"].generate.key == cells["math-g/mix50"].generate.key
    assert not any(c.routing for c in plain.values())
    only_h = _cells(routings={"f": {"generators": ["h"], "default": {"prompts": ["faq"]}}})
    assert [n for n, c in only_h.items() if c.routing] == ["routed_f-h/mix50"]


def test_a_routed_stage_key_knows_prompt_files_by_name_not_path(tmp_path):
    """The same prompt file in two checkouts: the routed generate stage is the same stage."""
    keys = []
    for place in ("one", "two"):
        f = tmp_path / place / "mine.yaml"
        f.parent.mkdir()
        f.write_text(yaml.safe_dump({"name": "mine", "family": "t", "version": "1", "intent": "x",
                                     "template": "Say this again plainly.\n\n{document}"}))
        cells = _cells(prompts=[str(f), "faq"], generators={"g": BASE["generators"]["g"]}, routings={
            "r": {"routes": [{"name": "n", "when": {"numbers": 1}, "prompts": [str(f)]}], "default": {"prompts": ["faq"]}}})
        keys.append(next(c for c in cells.values() if c.routing).generate.key)
    assert keys[0] == keys[1]


@pytest.mark.parametrize(("routings", "message"), [
    ({"x": {"default": {"prompts": ["tutorial"]}}}, "routings.x names prompt 'tutorial', which is not in prompts"),
    ({"x": {"generators": ["nope"], "default": {"prompts": ["faq"]}}}, "routings.x: unknown generator 'nope'"),
    ({"a-b": {"default": {"prompts": ["faq"]}}}, "must match"),
])
def test_bad_routings_are_one_error(routings, message):
    with pytest.raises(ConfigError, match=message):
        validate({**BASE, "routings": routings}, ExperimentConfig)


def test_shipped_routing_grids(repo_root):
    cfg = load_yaml(repo_root / "examples" / "routing_ablation.yaml", ExperimentConfig)
    cells = {c.name: c for c in expand(cfg)}
    a, b = cells["routed_source_filter/mix50"], cells["routed_uniform/mix50"]
    assert a.mix.spec.as_json()["tokens"] == b.mix.spec.as_json()["tokens"] and a.ratio == b.ratio == 0.5
    assert cfg.routings["uniform"].routing().default.count == 1  # one prompt per document, as the filter
    fine = {c.name: c for c in expand(load_yaml(repo_root / "examples" / "finephrase.yaml", ExperimentConfig))}
    routed = sorted(n for n, c in fine.items() if c.routing)
    assert any(n.startswith("routed_source_filter-smollm2_1.7b") for n in routed)
    assert any(n.startswith("routed_uniform-smollm2_1.7b") for n in routed)
    assert any(n.startswith("routed_nemotron_quality-gemma3_1b") for n in routed)
    assert len(routed) == 3  # one student each (p500m is only on the prompt sweep)


def test_spread_pick_takes_documents_across_the_split(tmp_path):
    spread = {**BASE, "sources": {"wiki": {"source": {"path": None}, "rephrase_docs": 3, "rephrase_pick": "spread"}}}
    first = {**BASE, "sources": {"wiki": {"source": {"path": None}, "rephrase_docs": 3}}}
    cfg = validate(spread, ExperimentConfig)
    gen = {c.name: c for c in expand(cfg)}["routed_filter-g/mix50"].generate
    assert gen.spec.as_json()["rephrase_pick"] == "spread"
    assert "rephrase_pick" not in {c.name: c for c in expand(validate(first, ExperimentConfig))}[
        "routed_filter-g/mix50"].generate.spec.as_json()  # the default keeps existing keys
    train = gen.dep(SourceStage).dir(tmp_path) / "train.jsonl"
    train.parent.mkdir(parents=True)
    train.write_text("".join(f'{{"id": "d{i}", "text": "t{i}"}}\n' for i in range(9)))
    run = generation_config(gen, cfg, tmp_path)
    assert run.source.limit is None
    ids = [line.split('"')[3] for line in Path(run.source.path).read_text().splitlines()]
    assert ids == ["d0", "d3", "d6"]
