"""ARCHITECTURE.md's claims about the stage seam: a stage kind is one module with its own Spec and Outputs
models, `run`, `resources` and `estimate`; nothing in the stage seam branches on a kind's name."""

from __future__ import annotations

import re
from pathlib import Path

from rephraser.config import validate
from rephraser.experiments import stages
from rephraser.experiments.cells import STAGE_KINDS, expand, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import KINDS, Stage, StageOutputs, StageSpec

EXPERIMENTS = Path(stages.__file__).parent.parent


def test_every_kind_is_one_module_with_its_own_models_and_methods():
    assert STAGE_KINDS == ("source", "tokenizer", "generate", "mix", "tokenize", "train", "evaluate")
    ranks = [cls.rank for cls in KINDS.kinds.values()]
    assert len(set(ranks)) == len(ranks), "two kinds share a pipeline rank"
    for kind, cls in KINDS.kinds.items():
        assert cls.__module__ == f"rephraser.experiments.stages.{kind}", kind
        spec, outputs = cls.spec_model(), cls.Outputs
        assert issubclass(spec, StageSpec) and spec is not StageSpec and spec.__module__ == cls.__module__, kind
        assert issubclass(outputs, StageOutputs) and outputs is not StageOutputs, kind
        assert "run" in vars(cls), f"{kind} does not run"
        assert (EXPERIMENTS / "stages" / f"{kind}.py").is_file()


def test_grid_stages_are_instances_of_their_kind_with_typed_specs():
    cfg = validate({"prompts": ["faq"], "generators": {"g": {"engine": {"model": "smollm2-135m"}}},
                    "mix": {"tokens": 1000}, "train": {"preset": "tiny-1m", "steps": 2}}, ExperimentConfig)
    found: dict[str, Stage] = {}
    for s in unique_stages(expand(cfg)):
        assert isinstance(s, KINDS.kinds[s.kind]) and isinstance(s.spec, type(s).spec_model())
        found.setdefault(s.kind, s)
    assert set(found) == set(STAGE_KINDS)
    again = next(s for s in unique_stages(expand(cfg)) if isinstance(s, KINDS.kinds["train"]))
    assert again is not found["train"] and again == found["train"]  # built again: the same stage (its key)
    assert len({again, found["train"]}) == 1 and again != found["evaluate"]


def test_the_stage_seam_does_not_branch_on_kind_names():
    """Behaviour per kind lives in the kind's class: no `x.kind == "..."` in the stage modules, the cells,
    the job sizing, the estimates or the results table."""
    files = [*(EXPERIMENTS / "stages").glob("*.py")] + [EXPERIMENTS / f for f in
                                                        ("cells.py", "jobs.py", "estimate.py", "results.py")]
    # (a baseline's own kind, `base.kind == "source"`, is not a stage kind)
    branch = re.compile(r"(?<!base)\.kind\s*==\s*\"(" + "|".join(STAGE_KINDS) + ")\"")
    hits = [f"{f.name}: {line.strip()}" for f in files for line in f.read_text(encoding="utf-8").splitlines()
            if branch.search(line)]
    assert not hits, hits
