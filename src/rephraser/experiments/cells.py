"""Expanding a grid into cells and each cell into a chain of cached stages.

A stage's key is a hash of its own inputs plus its upstream stages' keys, so a stage is redone only
when something it depends on changed: adding a seed adds train/evaluate stages only; adding a prompt
adds generate/mix/tokenize/train/evaluate for that prompt only; the source split and the shared
tokenizer are reused by every cell.

Stage chain of a synthetic cell:  source -> tokenizer -> generate -> mix -> tokenize -> train(seed) -> evaluate(seed)
Baselines skip `generate` (their mix has one component: the source's training split, or a dataset).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.config import RunConfig
from rephraser.errors import ConfigError
from rephraser.experiments.config import ExperimentConfig, ratio_label
from rephraser.prompts.registry import resolve_prompt

STAGE_KINDS = ("source", "tokenizer", "generate", "mix", "tokenize", "train", "evaluate")


@dataclass(frozen=True)
class Stage:
    kind: str
    spec: dict[str, Any]  # JSON-able inputs that define what the stage produces
    deps: tuple[Stage, ...] = ()
    # How to run it, not what it produces (a generator's name, a prompt's path): not part of the key.
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        blob = json.dumps({"kind": self.kind, "spec": self.spec, "deps": [d.key for d in self.deps]},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def dir(self, out: str | Path) -> Path:
        return Path(out) / "stages" / self.kind / self.key

    def dep(self, kind: str) -> Stage:
        for d in self.deps:
            if d.kind == kind:
                return d
        raise KeyError(f"{self.kind} stage has no {kind} dependency")


@dataclass
class Cell:
    """One point of the grid: a training mixture, trained and evaluated once per seed."""

    name: str  # folder path under OUT/cells, e.g. "table-smollm2/mix50" or "baseline-source_only"
    kind: str  # "synthetic" | "baseline"
    prompt: str | None = None  # prompt name (resolved from a library name or YAML path)
    generator: str | None = None
    source: str | None = None
    ratio: float | None = None  # synthetic share of the mixture
    baseline: str | None = None
    mix: Stage | None = None
    generate: Stage | None = None
    train: dict[int, Stage] = field(default_factory=dict)  # seed -> stage
    evaluate: dict[int, Stage] = field(default_factory=dict)

    def stages(self) -> list[Stage]:
        """Every stage this cell needs, upstream first, shared ones included."""
        seen: dict[str, Stage] = {}

        def visit(s: Stage) -> None:
            for d in s.deps:
                visit(d)
            seen.setdefault(s.key, s)

        for s in self.evaluate.values():
            visit(s)
        return list(seen.values())

    def describe(self) -> dict[str, Any]:
        return {"cell": self.name, "kind": self.kind, "prompt": self.prompt, "generator": self.generator,
                "source": self.source, "ratio": self.ratio, "baseline": self.baseline}


def _source_stage(cfg: ExperimentConfig, name: str) -> Stage:
    src = cfg.sources[name].source.model_dump(mode="json")
    return Stage("source", {"source": src, "heldout_fraction": cfg.eval.heldout_fraction})


def _prompt_identity(ref: str) -> tuple[str, str]:
    spec = resolve_prompt(ref)
    return spec.name, spec.hash


def _generate_stage(cfg: ExperimentConfig, gen: str, prompt_ref: str, source: Stage, src_name: str) -> Stage:
    g = cfg.generation
    run = RunConfig(prompts=[prompt_ref], engine=cfg.generators[gen].engine, sampling=g.sampling,
                    rollout=g.rollout, postprocess=cfg.generators[gen].postprocess_for(g.postprocess))
    outcome = run.outcome_fields()
    outcome.pop("source")  # replaced by the source stage's key
    outcome["prompts"] = [_prompt_identity(prompt_ref)[1]]  # the prompt's content hash, not its path
    return Stage("generate", {"run": outcome, "rephrase_docs": cfg.sources[src_name].rephrase_docs},
                 (source,), meta={"generator": gen, "prompt_ref": prompt_ref})


def _chain(cfg: ExperimentConfig, cell: Cell, mix: Stage, tokenizer: Stage, sources: dict[str, Stage]) -> None:
    """mix -> tokenize -> train(seed) -> evaluate(seed) for one cell."""
    cell.mix = mix
    tok = Stage("tokenize", {"heldout_fraction": 0.02}, (mix, tokenizer))
    evals = {"eval": cfg.eval.model_dump(mode="json", exclude={"device"})}
    for key, default in (("definitions", "rephraser"), ("prob_variant", "gold"), ("datasets", None)):
        if evals["eval"][key] == default:  # left out at their defaults: existing grids keep their stage keys
            del evals["eval"][key]
    heldout = tuple(sources[n] for n in sorted(sources))
    for seed in cfg.seeds:
        # The spec (what the key hashes) stays the user's fields; meta carries them validated, once.
        train = Stage("train", {"train": cfg.train, "seed": seed}, (tok,), meta={"train": cfg.train_config(seed)})
        cell.train[seed] = train
        cell.evaluate[seed] = Stage("evaluate", evals, (train, *heldout), meta={"eval": cfg.eval})


def expand(cfg: ExperimentConfig) -> list[Cell]:
    """All cells of the grid: baselines first, then prompts x generators x sources x ratios."""
    sources = {n: _source_stage(cfg, n) for n in cfg.sources}
    tok_spec = cfg.tokenizer.model_dump(mode="json")
    tokenizer = Stage("tokenizer", tok_spec, tuple(sources[n] for n in sorted(sources)))
    first_source = next(iter(cfg.sources))
    cells: list[Cell] = []
    for bname, b in cfg.baselines.items():
        cell = Cell(name=f"baseline-{bname}", kind="baseline", baseline=bname)
        if b.kind == "source":
            cell.source = b.source or first_source
            comp = {"kind": "source", "weight": 1.0}
            mix_deps: tuple[Stage, ...] = (sources[cell.source], tokenizer)
        else:
            comp = {"kind": "dataset", "path": b.path, "prompt": b.prompt, "text_column": b.text_column, "weight": 1.0}
            mix_deps = (tokenizer,)
        mix = Stage("mix", {"components": [comp], "tokens": cfg.mix_tokens, "seed": cfg.mix.seed}, mix_deps)
        _chain(cfg, cell, mix, tokenizer, sources)
        cells.append(cell)
    many_gens, many_sources = len(cfg.generators) > 1, len(cfg.sources) > 1
    for prompt_ref in _all_prompts(cfg):
        pname = _prompt_identity(prompt_ref)[0]
        for gen in cfg.generators:
            if prompt_ref not in cfg.prompts_for(gen):
                continue
            for src in cfg.sources:
                generate = _generate_stage(cfg, gen, prompt_ref, sources[src], src)
                series = "-".join([pname] + ([gen] if many_gens else []) + ([src] if many_sources else []))
                for ratio in cfg.mix.ratios:
                    cell = Cell(name=f"{series}/{ratio_label(ratio)}", kind="synthetic", prompt=pname,
                                generator=gen, source=src, ratio=ratio, generate=generate)
                    comps = [{"kind": "rephrased", "prompt": pname, "weight": ratio}]
                    if ratio < 1:
                        comps.append({"kind": "source", "weight": round(1 - ratio, 10)})
                    mix = Stage("mix", {"components": comps, "tokens": cfg.mix_tokens, "seed": cfg.mix.seed},
                                (generate, sources[src], tokenizer))
                    _chain(cfg, cell, mix, tokenizer, sources)
                    cells.append(cell)
    names = [c.name for c in cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"two cells share a name ({', '.join(dupes)}): give prompts distinct names")
    return cells


def _all_prompts(cfg: ExperimentConfig) -> list[str]:
    """The prompt axis plus prompts only some generators use, in first-seen order."""
    refs = list(cfg.prompts)
    for g in cfg.generators.values():
        refs.extend(p for p in (g.prompts or []) if p not in refs)
    return refs


def select_cells(cells: list[Cell], patterns: list[str] | None) -> list[Cell]:
    """Cells whose name (or series, the part before '/') matches one of the glob patterns."""
    from fnmatch import fnmatchcase

    if not patterns:
        return cells
    chosen = [c for c in cells if any(fnmatchcase(c.name, p) or fnmatchcase(c.name.split("/")[0], p)
                                      for p in patterns)]
    if not chosen:
        raise ConfigError(f"--only {', '.join(patterns)} matches no cell; cells: {', '.join(c.name for c in cells)}")
    return chosen


def unique_stages(cells: list[Cell]) -> list[Stage]:
    seen: dict[str, Stage] = {}
    for c in cells:
        for s in c.stages():
            seen.setdefault(s.key, s)
    order = {k: i for i, k in enumerate(STAGE_KINDS)}
    return sorted(seen.values(), key=lambda s: order[s.kind])
