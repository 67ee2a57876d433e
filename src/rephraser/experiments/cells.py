"""Expanding a grid into cells and each cell into a chain of cached stages.

A stage's key is a hash of its own inputs plus its upstream stages' keys, so a stage is redone only
when something it depends on changed: adding a seed adds train/evaluate stages only; adding a prompt
adds generate/mix/tokenize/train/evaluate for that prompt only; the source split and the shared
tokenizer are reused by every cell.

Stage chain of a synthetic cell:  source -> tokenizer -> generate -> mix -> tokenize -> train(seed) -> evaluate(seed)
Baselines skip `generate` (their mix has one component: the source's training split, or a dataset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from rephraser.config import RunConfig
from rephraser.errors import ConfigError
from rephraser.experiments.config import DecaySpec, ExperimentConfig, ratio_label
from rephraser.experiments.rows import Row
from rephraser.experiments.stages import (
    KINDS,
    AnyStage,
    EvaluateStage,
    GenerateStage,
    MixStage,
    SourceStage,
    TokenizerStage,
    TokenizeStage,
    TrainStage,
)
from rephraser.experiments.stages.base import JsonObject, NoMeta
from rephraser.experiments.stages.evaluate import EvaluateMeta, EvaluateSpec
from rephraser.experiments.stages.generate import GenerateMeta, GenerateSpec
from rephraser.experiments.stages.mix import DatasetPart, MixPart, MixSpec, RephrasedPart, SourcePart
from rephraser.experiments.stages.source import SourceSpec
from rephraser.experiments.stages.tokenize import TokenizeSpec
from rephraser.experiments.stages.tokenizer import TokenizerSpec
from rephraser.experiments.stages.train import DecayPoint, TrainMeta, TrainSpec
from rephraser.prompts.registry import prompt_ids, resolve_prompt
from rephraser.train.trainer import TrainConfig

__all__ = ["STAGE_KINDS", "AnyStage", "Cell", "Run", "Stage", "expand", "run_label", "select_cells", "unique_stages"]

# Pipeline order, upstream first (the registry's order).
STAGE_KINDS = KINDS.names()
# Any kind of stage, for annotations (the generic class is stages.Stage; each kind is a subclass).
Stage = AnyStage


Run = tuple[int, "int | None"]  # (training seed, data seed; None = the training seed)


def run_label(run: Run) -> str:
    """Folder name of one run of a cell: seed0, or seed0-data2 with explicit data seeds."""
    seed, data = run
    return f"seed{seed}" if data is None else f"seed{seed}-data{data}"


@dataclass
class Cell:
    """One point of the grid: a training mixture and a student, trained and evaluated once per run (seeds)."""

    name: str  # folder path under OUT/cells, e.g. "table-smollm2/mix50" or "baseline-source_only"
    kind: str  # "synthetic" | "baseline"
    prompt: str | None = None  # prompt name, or a prompt mix's name
    generator: str | None = None
    source: str | None = None
    ratio: float | None = None  # synthetic share of the mixture
    baseline: str | None = None
    mix_with: str | None = None  # the real share of a synthetic cell: "source" or a corpus
    student: str | None = None
    decay_from: str | None = None  # the trunk cell of a decay ablation
    routing: str | None = None  # a routed cell: the name of its routes (cfg.routings)
    base_name: str = ""  # the name without the student part (what decay rules refer to)
    mix: MixStage | None = None
    generates: list[GenerateStage] = field(default_factory=list)
    train: dict[Run, TrainStage] = field(default_factory=dict)
    evaluate: dict[Run, EvaluateStage] = field(default_factory=dict)

    @property
    def generate(self) -> GenerateStage | None:
        return self.generates[0] if self.generates else None

    def stages(self) -> list[AnyStage]:
        """Every stage this cell needs, upstream first, shared ones included."""
        seen: dict[str, AnyStage] = {}

        def visit(s: AnyStage) -> None:
            if s.key in seen:
                return
            for d in s.deps:
                visit(d)
            seen.setdefault(s.key, s)

        for s in self.evaluate.values():
            visit(s)
        return list(seen.values())

    def describe(self) -> Row:
        """The cell's axes: the leading columns of every results row."""
        return {"cell": self.name, "kind": self.kind, "prompt": self.prompt, "generator": self.generator,
                "source": self.source, "ratio": self.ratio, "baseline": self.baseline, "mix_with": self.mix_with,
                "student": self.student, "decay_from": self.decay_from, "routing": self.routing}


def _source_stage(cfg: ExperimentConfig, name: str) -> SourceStage:
    src = cfg.sources[name].source.model_dump(mode="json")
    return SourceStage(SourceSpec(source=src, heldout_fraction=cfg.eval.heldout_fraction), NoMeta())


def _prompt_identity(ref: str) -> tuple[str, str]:
    spec = resolve_prompt(ref)
    return spec.name, spec.hash


def _generate_stage(cfg: ExperimentConfig, gen: str, prompt_ref: str, source: SourceStage,
                    src_name: str) -> GenerateStage:
    g = cfg.generation
    sampling, rollout = cfg.generators[gen].rollout_for(g)
    run = RunConfig(prompts=[prompt_ref], engine=cfg.generators[gen].engine, sampling=sampling,
                    rollout=rollout, postprocess=cfg.generators[gen].postprocess_for(g.postprocess))
    outcome = run.outcome_fields()
    outcome.pop("source")  # replaced by the source stage's key
    name, digest = _prompt_identity(prompt_ref)
    outcome["prompts"] = [digest]  # the prompt's content hash, not its path
    return GenerateStage(_generate_spec(cfg, outcome, src_name), GenerateMeta(gen, prompt_ref, name), (source,))


def _generate_spec(cfg: ExperimentConfig, outcome: JsonObject, src_name: str) -> GenerateSpec:
    """The run's outcome fields and which documents it rewrites (`rephrase_pick` only when not the
    default, so keys stay)."""
    s = cfg.sources[src_name]
    return GenerateSpec(run=outcome, rephrase_docs=s.rephrase_docs,
                        rephrase_pick=s.rephrase_pick if s.rephrase_pick != "first" else None)


def _routed_generate_stage(cfg: ExperimentConfig, gen: str, name: str, source: SourceStage,
                           src_name: str) -> GenerateStage:
    """One generate stage for a routed cell: every route prompt in one run, each document given only its
    route's prompts (the routes, with the prompts' content hashes, are in the key)."""
    g, routing = cfg.generation, cfg.routings[name].routing()
    refs = routing.prompt_names()
    sampling, rollout = cfg.generators[gen].rollout_for(g)
    run = RunConfig(prompts=refs, engine=cfg.generators[gen].engine, sampling=sampling, rollout=rollout,
                    postprocess=cfg.generators[gen].postprocess_for(g.postprocess), routing=routing)
    specs = [resolve_prompt(r) for r in refs]
    outcome = run.outcome_fields(prompt_ids(refs, specs))  # the routes name prompt files by name, not path
    outcome.pop("source")
    outcome["prompts"] = [spec.hash for spec in specs]
    return GenerateStage(_generate_spec(cfg, outcome, src_name),
                         GenerateMeta(gen, refs[0], name, prompt_refs=refs, routing=routing), (source,))


def _corpus_component(cfg: ExperimentConfig, name: str, weight: float) -> DatasetPart:
    c = cfg.corpora[name]
    return DatasetPart(path=c.path, prompt=c.prompt, text_column=c.text_column, weight=weight)


def _mix_stage(cfg: ExperimentConfig, comps: list[MixPart], deps: tuple[AnyStage, ...]) -> MixStage:
    return MixStage(MixSpec(components=comps, tokens=cfg.mix_tokens, seed=cfg.mix.seed), NoMeta(), deps)


def _train_spec(cfg: ExperimentConfig, cell: Cell, run: Run) -> TrainSpec:
    student = (cfg.students or {}).get(cell.student or "")
    # data_seed only with explicit data seeds, so default grids keep their keys
    return TrainSpec(train={**cfg.train, **(student.train if student else {})}, seed=run[0], data_seed=run[1])


class _Builder:
    """Cells first (mixtures), then their runs, trunk cells before the decay branches that start from them."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.sources = {n: _source_stage(cfg, n) for n in cfg.sources}
        self.tokenizer = TokenizerStage(TokenizerSpec.model_validate(cfg.tokenizer.model_dump(mode="json")),
                                        NoMeta(), tuple(self.sources[n] for n in sorted(self.sources)))
        self.tokenize: dict[str, TokenizeStage] = {}  # cell name -> its tokenize stage
        self.cells: list[Cell] = []

    def add(self, cell: Cell, mix: MixStage) -> None:
        named = self.cfg.students or {}
        every: list[str | None] = [*named] or [None]
        students = [s for s in every if s is None or (globs := named[s].cells) is None
                    or any(fnmatchcase(cell.name, p) for p in globs)]
        for student in students:
            c = replace(cell, student=student, base_name=cell.name, generates=list(cell.generates), train={},
                        evaluate={})
            if len(every) > 1:  # the student joins the series part, before mix<R>, so plots keep series apart
                head, sep, tail = cell.name.rpartition("/")
                c.name = f"{head}-{student}{sep}{tail}" if sep else f"{cell.name}-{student}"
            c.mix = mix
            self.tokenize[c.name] = TokenizeStage(TokenizeSpec(heldout_fraction=0.02), NoMeta(), (mix, self.tokenizer))
            self.cells.append(c)

    def runs(self) -> None:
        cfg = self.cfg
        branch = {c.name: _decay_rule(cfg, c) for c in self.cells}
        by_base = {(c.base_name, c.student): c for c in self.cells}
        trunk: dict[str, Cell] = {}
        for c in self.cells:
            rule = branch[c.name]
            if rule is None:
                continue
            t = by_base.get((rule.from_cell, c.student))
            if t is None:
                raise ConfigError(f"decay: no cell named {rule.from_cell!r} to start {c.name} from "
                                  f"(cells: {', '.join(sorted({x.base_name for x in self.cells}))})")
            trunk[c.name] = t
            c.decay_from = t.name
        evals = _eval_spec(cfg)
        heldout = tuple(self.sources[n] for n in sorted(self.sources))
        for c in _trunks_first(self.cells, trunk):
            rule = branch[c.name]
            for run in cfg.replicates(c.base_name):
                spec = _train_spec(cfg, c, run)
                deps: tuple[AnyStage, ...] = (self.tokenize[c.name],)
                if rule is not None:
                    spec, deps = _decay_spec(c, trunk[c.name], run, rule, spec, deps)
                # The spec (what the key hashes) stays the user's fields; meta carries them validated, once.
                train = TrainConfig.model_validate({"data": "-", **spec.train, "seed": run[0],
                                                    "data_seed": run[0] if run[1] is None else run[1]})
                c.train[run] = TrainStage(spec, TrainMeta(c.student, train), deps)
                c.evaluate[run] = EvaluateStage(evals, EvaluateMeta(cfg.eval), (c.train[run], *heldout))


def _eval_spec(cfg: ExperimentConfig) -> EvaluateSpec:
    fields = cfg.eval.model_dump(mode="json", exclude={"device"})
    for key, default in (("definitions", "rephraser"), ("prob_variant", "gold"), ("datasets", None), ("dtype", "auto"),
                         ("truncate_fewshot", None)):
        if fields[key] == default:  # left out at their defaults: existing grids keep their stage keys
            del fields[key]
    return EvaluateSpec(eval=fields)


def _decay_rule(cfg: ExperimentConfig, cell: Cell) -> DecaySpec | None:
    return next((r for r in cfg.decay if any(fnmatchcase(cell.base_name, p) for p in r.cells)), None)


def _trunks_first(cells: list[Cell], trunk: dict[str, Cell]) -> list[Cell]:
    """Cells ordered so that every decay trunk comes before its branches; a cycle is an error."""
    done: dict[str, Cell] = {}
    for c in cells:
        path: list[str] = []
        cur: Cell | None = c
        while cur is not None and cur.name not in done:
            if cur.name in path:
                loop = " -> ".join([*path[path.index(cur.name):], cur.name])
                raise ConfigError(f"decay: cycle in checkpoint dependencies: {loop}")
            path.append(cur.name)
            cur = trunk.get(cur.name)
        for name in reversed(path):
            done[name] = next(x for x in cells if x.name == name)
    return list(done.values())


def _decay_spec(cell: Cell, trunk: Cell, run: Run, rule: DecaySpec, spec: TrainSpec,
                deps: tuple[AnyStage, ...]) -> tuple[TrainSpec, tuple[AnyStage, ...]]:
    """A branch run: the trunk's run with the same seeds, resumed at `at_step` on this cell's data, whose
    schedule ends `steps` later with the decay phase covering exactly those steps."""
    same = {(s, s if d is None else d): st for (s, d), st in trunk.train.items()}  # seed0 == seed0-data0
    t_stage = same.get((run[0], run[0] if run[1] is None else run[1]))
    if t_stage is None:
        raise ConfigError(f"decay: {trunk.name} has no run {run_label(run)} for {cell.name} to start from")
    k, n = rule.at_step, rule.steps
    trunk_train = TrainConfig.model_validate({"data": "-", **t_stage.spec.train})
    total = trunk_total_steps(trunk_train)
    if total is not None:
        stable_end = total - round(trunk_train.decay_frac * total)
        if k > stable_end:
            raise ConfigError(f"decay: at_step {k} is past the stable phase of {trunk.name} (it decays from step "
                              f"{stable_end} of {total})")
    t_stage.meta.keep_steps.append(k)  # the trunk keeps this checkpoint (not part of its key)
    train = {key: v for key, v in spec.train.items() if key not in ("tokens", "steps")}
    train.update(steps=k + n, decay_frac=n / (k + n))
    return spec.model_copy(update={"train": train, "decay": DecayPoint(at_step=k, steps=n)}), (*deps, t_stage)


def trunk_total_steps(t: TrainConfig) -> int | None:
    """Optimizer steps of a run, when its budget is known without the data."""
    from rephraser.train.model import preset_config  # torch

    if t.steps:
        return t.steps
    if t.tokens:
        seq = t.seq_len or preset_config(t.preset).max_seq_len
        return math.ceil(t.tokens / (t.batch_size * seq))
    return None


def expand(cfg: ExperimentConfig) -> list[Cell]:
    """All cells of the grid: baselines first, then prompts (and prompt mixes) x generators x sources x
    mix-ins x ratios; each for every student."""
    b = _Builder(cfg)
    sources, tokenizer = b.sources, b.tokenizer
    first_source = next(iter(cfg.sources))
    for bname, base in cfg.baselines.items():
        cell = Cell(name=f"baseline-{bname}", kind="baseline", baseline=bname)
        if base.kind == "source":
            cell.source = base.source or first_source
            comp: MixPart = SourcePart(weight=1.0)
            mix_deps: tuple[AnyStage, ...] = (sources[cell.source], tokenizer)
        else:
            comp = DatasetPart(path=base.path, prompt=base.prompt, text_column=base.text_column, weight=1.0)
            mix_deps = (tokenizer,)
        b.add(cell, _mix_stage(cfg, [comp], mix_deps))
    many_gens, many_sources = len(cfg.generators) > 1, len(cfg.sources) > 1
    named_mix_in = any((g.mix_with or cfg.mix.mix_with) != ["source"] for g in cfg.generators.values())
    for label, refs in _synthetic_series(cfg):
        for gen, gspec in cfg.generators.items():
            if any(r not in cfg.prompts_for(gen) for r in refs):
                continue
            for src in cfg.sources:
                gens = [_generate_stage(cfg, gen, r, sources[src], src) for r in refs]
                for mix_in in gspec.mix_with or cfg.mix.mix_with:
                    series = "-".join([label] + ([gen] if many_gens else []) + ([src] if many_sources else [])
                                      + ([f"with_{mix_in}"] if named_mix_in else []))
                    for ratio in gspec.ratios or cfg.mix.ratios:
                        cell = Cell(name=f"{series}/{ratio_label(ratio)}", kind="synthetic", prompt=label,
                                    generator=gen, source=src, ratio=ratio, generates=gens,
                                    mix_with=mix_in if named_mix_in else None)
                        share = ratio if len(gens) == 1 else round(ratio / len(gens), 10)
                        comps: list[MixPart] = [RephrasedPart(prompt=g.meta.prompt, weight=share) for g in gens]
                        deps: tuple[AnyStage, ...] = (*gens, sources[src], tokenizer)
                        if ratio < 1 and mix_in == "source":
                            comps.append(SourcePart(weight=round(1 - ratio, 10)))
                        elif ratio < 1:
                            comps.append(_corpus_component(cfg, mix_in, round(1 - ratio, 10)))
                        b.add(cell, _mix_stage(cfg, comps, deps))
    _routed_cells(cfg, b)
    names = [c.name for c in b.cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"two cells share a name ({', '.join(dupes)}): give prompts distinct names")
    b.runs()
    return b.cells


def _routed_cells(cfg: ExperimentConfig, b: _Builder) -> None:
    """A routed cell per routing x generator (that has its prompts) x source x ratio: its synthetic share is
    every output of one routed generation, so it meets a prompt mix of the same prompts at the same tokens."""
    many_gens, many_sources = len(cfg.generators) > 1, len(cfg.sources) > 1
    for name, routing in cfg.routings.items():
        for gen, gspec in cfg.generators.items():
            if any(p not in cfg.prompts_for(gen) for p in routing.prompt_names()):
                continue
            if routing.generators is not None and gen not in routing.generators:
                continue
            for src in cfg.sources:
                stage = _routed_generate_stage(cfg, gen, name, b.sources[src], src)
                series = "-".join([f"routed_{name}"] + ([gen] if many_gens else []) + ([src] if many_sources else []))
                for ratio in gspec.ratios or cfg.mix.ratios:
                    cell = Cell(name=f"{series}/{ratio_label(ratio)}", kind="synthetic", prompt=f"routed_{name}",
                                generator=gen, source=src, ratio=ratio, generates=[stage], routing=name)
                    comps: list[MixPart] = [RephrasedPart(prompt=name, routed=True, weight=ratio)]
                    if ratio < 1:
                        comps.append(SourcePart(weight=round(1 - ratio, 10)))
                    b.add(cell, _mix_stage(cfg, comps, (stage, b.sources[src], b.tokenizer)))


def _synthetic_series(cfg: ExperimentConfig) -> list[tuple[str, list[str]]]:
    """(series label, prompt refs): every prompt alone, then every prompt mix."""
    series = [(_prompt_identity(r)[0], [r]) for r in _all_prompts(cfg)]
    return series + [(name, list(refs)) for name, refs in cfg.prompt_mixes.items()]


def _all_prompts(cfg: ExperimentConfig) -> list[str]:
    """The prompt axis plus prompts only some generators use, in first-seen order."""
    refs = list(cfg.prompts)
    for g in cfg.generators.values():
        refs.extend(p for p in (g.prompts or []) if p not in refs)
    return refs


def select_cells(cells: list[Cell], patterns: list[str] | None) -> list[Cell]:
    """Cells whose name (or series, the part before '/') matches one of the glob patterns."""
    if not patterns:
        return cells
    chosen = [c for c in cells if any(fnmatchcase(c.name, p) or fnmatchcase(c.name.split("/")[0], p)
                                      for p in patterns)]
    if not chosen:
        raise ConfigError(f"--only {', '.join(patterns)} matches no cell; cells: {', '.join(c.name for c in cells)}")
    return chosen


def unique_stages(cells: list[Cell]) -> list[AnyStage]:
    seen: dict[str, AnyStage] = {}
    for c in cells:
        for s in c.stages():
            seen.setdefault(s.key, s)
    order = {k: i for i, k in enumerate(STAGE_KINDS)}
    return sorted(seen.values(), key=lambda s: order[s.kind])
