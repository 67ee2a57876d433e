"""What an experiment grid is: axes (prompts x generators x sources x mix ratios x seeds) + baselines.

One YAML (`rephraser experiment run grid.yaml`) describes the whole study slice:

    name: mini_ablation
    output: out/mini_ablation
    prompts: [table, math, faq]                 # the prompt axis
    generators:                                 # the generator axis (named engines)
      smollm2: {engine: {kind: llamacpp, model: smollm2-135m}}
      gemma3: {engine: {kind: llamacpp, model: gemma3-270m}, prompts: [continue]}   # restricts its prompts
    sources: {wiki: {source: {path: null, limit: 300}, rephrase_docs: 40}}
    mix: {ratios: [0.5], tokens: 300000}        # synthetic share of the training mixture
    seeds: [0, 1, 2]                            # proxy training seeds
    baselines: {source_only: {kind: source}}    # train on the original documents only
    tokenizer: {vocab_size: 4096}               # ONE tokenizer per grid, trained on the sources
    train: {preset: tiny-1m, tokens: 300000}    # TrainConfig fields (data/output/seed are set per cell)
    eval: {profile: quick, max_items: 20}

Every model forbids unknown keys, so a typo is an error rather than a silent default.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, JsonValue, ValidationError, field_validator, model_validator

from rephraser.config import (
    EngineConfig,
    LlamaCppConfig,
    PostprocessConfig,
    RetryConfig,
    RolloutConfig,
    SamplingConfig,
    SourceConfig,
    Strict,
)
from rephraser.errors import ConfigError
from rephraser.evaluate.suite import check_options
from rephraser.route_config import RoutingConfig
from rephraser.train.trainer import TrainConfig, accumulation

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")  # no '-' or '/': they separate name parts in cell paths
# TrainConfig fields the grid owns: each cell gets its own data, output folder and seed.
_GRID_OWNED_TRAIN_FIELDS = {"data", "output", "seed", "data_seed", "resume"}
# TrainConfig fields as the YAML gives them: validated (by TrainConfig) when the grid loads, but kept as
# given, because a train stage's key hashes them as written.
TrainFields = dict[str, JsonValue]


def _check_names(names: list[str], what: str) -> None:
    for n in names:
        if not _NAME.match(n):
            raise ValueError(f"{what} name {n!r} must match [A-Za-z0-9][A-Za-z0-9_.]* (no '-', '/', spaces)")


class GenerationSpec(Strict):
    """The generation settings every generate stage shares (a RunConfig without source/prompts/engine)."""

    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)
    max_in_flight: int = Field(64, ge=1)
    rows_per_part: int = Field(1000, ge=1)
    shards: int = Field(1, ge=1, description="shards per generate stage: a Slurm array / Ray tasks of this size "
                        "(the local executor runs them one after another); not part of any stage key")


class GeneratorSpec(Strict):
    engine: EngineConfig = Field(default_factory=LlamaCppConfig)
    prompts: list[str] | None = Field(
        None, description="use this generator only with these prompts (e.g. a base model with `continue`)"
    )
    ratios: list[float] | None = Field(None, min_length=1, description="this generator's synthetic shares "
                                       "instead of mix.ratios (e.g. a share sweep for one generator only)")
    mix_with: list[str] | None = Field(None, min_length=1, description="this generator's mix-ins instead of mix.mix_with")
    tok_s: float | None = Field(None, gt=0, description="output tok/s for --dry-run when nothing was measured yet")
    constrain: Literal["auto", "on", "off", "grounded"] | None = Field(
        None, description="overrides engine.constrain for this generator, so constrained and "
        "free decoding of one model are two generators (cells) of one grid")
    floor: Literal["off", "default", "custom"] | None = Field(
        None, description="overrides generation.postprocess.floor for this generator, so the content floor off and "
        "on are two generators (cells) of one grid: the proxy decides whether turning rows down helps")
    tries: int | None = Field(
        None, ge=2, description="rejection sampling for this generator: sample again (a new seed) while the output "
        "fails its contract, at most this many calls per document (rollout samples, keep first_ok), so one model "
        "with and without it are two cells of one grid")
    seed: int | None = Field(
        None, ge=0, description="overrides generation.sampling.seed for this generator: the same model and settings "
        "with another draw of outputs, so a grid shows how far two samples of one generator land apart (the spread "
        "any other generator change must exceed)")
    note: str | None = None

    def rollout_for(self, g: GenerationSpec) -> tuple[SamplingConfig, RolloutConfig]:
        """The sampling and rollout of this generator's runs: the grid's, or first_ok with `tries` calls."""
        sampling = g.sampling if self.seed is None else g.sampling.model_copy(update={"seed": self.seed})
        if self.tries is None:
            return sampling, g.rollout
        return (sampling.model_copy(update={"n": self.tries}),
                g.rollout.model_copy(update={"kind": "samples", "keep": "first_ok"}))

    def postprocess_for(self, base: PostprocessConfig) -> PostprocessConfig:
        update = {k: v for k, v in (("constrain", self.constrain), ("floor", self.floor)) if v is not None}
        # validated again: a generator's floor: custom needs generation.postprocess.floor_thresholds
        return PostprocessConfig.model_validate({**base.model_dump(), **update}) if update else base

    @field_validator("ratios")
    @classmethod
    def _ratios_ok(cls, v: list[float] | None) -> list[float] | None:
        return None if v is None else check_ratios(v)


class SourceSpec(Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    rephrase_docs: int | None = Field(
        None, ge=1, description="documents rewritten per prompt (the first N of the training split); None = all"
    )
    rephrase_pick: Literal["first", "spread"] = Field(
        "first", description="which rephrase_docs documents: the first N, or N spread evenly over the training "
        "split (a sorted source's head is not a sample: the wiki's first titles are years and numbers)")


class BaselineSpec(Strict):
    """A reference cell: `source` = train on a grid source's original documents only; `dataset` = any corpus."""

    kind: Literal["source", "dataset"] = "source"
    source: str | None = Field(None, description="kind=source: which grid source (default: the first)")
    path: str | None = Field(None, description="kind=dataset: text files, Parquet/JSONL folder or rephraser output")
    prompt: str | None = Field(None, description="kind=dataset on a rephraser output folder: one prompt's rows")
    text_column: str = "text"

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> BaselineSpec:
        if self.kind == "dataset" and not self.path:
            raise ValueError("a dataset baseline needs `path`")
        if self.kind == "source" and (self.path or self.prompt):
            raise ValueError("a source baseline takes `source`, not `path`/`prompt`")
        return self


class MixSpec(Strict):
    ratios: list[float] = Field(default_factory=lambda: [0.5], min_length=1,
                                description="synthetic share of the mixture's tokens, each in (0, 1]")
    tokens: int | None = Field(None, ge=1, description="mixture size in tokens (default: the training token budget)")
    seed: int = Field(0, description="mixture selection seed (fixed across training seeds)")
    mix_with: list[str] = Field(default_factory=lambda: ["source"], min_length=1,
                                description="the real share of synthetic cells (an axis): `source` = the rephrased "
                                "source's own training split, or a `corpora:` name")

    @field_validator("ratios")
    @classmethod
    def _ratios_ok(cls, v: list[float]) -> list[float]:
        return check_ratios(v)


class CorpusSpec(Strict):
    """A real dataset to mix synthetic data with (`mix.mix_with`): text files, a Parquet/JSONL folder, or a
    rephraser output folder (`prompt`: one prompt's rows)."""

    path: str
    text_column: str = "text"
    prompt: str | None = None


class RoutedCellSpec(RoutingConfig):
    """A routed cell's routes (RoutingConfig), optionally only for some generators."""

    generators: list[str] | None = Field(None, min_length=1, description="routed cells only for these generators "
                                         "(default: every generator that has the routes' prompts)")

    def routing(self) -> RoutingConfig:
        """The routes alone: what the generate stage runs and its key hashes."""
        return RoutingConfig.model_validate(self.model_dump(exclude={"generators"}, by_alias=True))


class StudentSpec(Strict):
    """One point of the student-size axis: TrainConfig fields that differ from `train:` (e.g. the preset)."""

    train: TrainFields = Field(default_factory=dict)
    cells: list[str] | None = Field(None, description="train this student only on these cells (names or globs)")
    train_nodes: int | None = Field(None, ge=1, description="CUDA training: nodes per run [cluster.train_nodes]")


class SeedGridSpec(Strict):
    """Other training x data seeds for some cells, e.g. the 3 x 3 grid the seed noise is measured on."""

    cells: list[str] = Field(..., min_length=1, description="cell names or globs")
    seeds: list[int] = Field(..., min_length=1)
    data_seeds: list[int] | None = None


class DecaySpec(Strict):
    """Decay ablation: the matching cells do not train from scratch; each starts from the `from` cell's
    checkpoint at `at_step` (same seeds, same student) and decays the learning rate over `steps` more steps
    on its own data: the cost of `steps`, not of a whole run."""

    model_config = {**Strict.model_config, "populate_by_name": True}
    cells: list[str] = Field(..., min_length=1, description="cell names or globs trained this way")
    from_cell: str = Field(..., alias="from", description="the cell whose run provides the checkpoint")
    at_step: int = Field(..., ge=1)
    steps: int = Field(..., ge=1)


class TokenizerSpec(Strict):
    vocab_size: int = Field(4096, ge=257)
    min_frequency: int = Field(2, ge=1)
    max_docs: int | None = Field(None, ge=1, description="train the BPE on at most this many source documents")


class EvalSpec(Strict):
    profile: Literal["quick", "full", "study"] = Field(
        "quick", description="study: ≤1000 items, the lighteval definitions with |3|1 truncation, bf16 on CUDA")
    tasks: list[str] | None = Field(None, description="task names (default: all 12)")
    max_items: int | None = Field(None, ge=1, description="override the profile's items per task")
    num_fewshot: int = Field(3, ge=0)
    seed: int = 1234
    heldout_fraction: float = Field(0.05, gt=0, lt=1, description="source documents kept out of every mix, for bpb")
    heldout_docs: int | None = Field(200, ge=1, description="score bpb on at most this many held-out documents")
    device: str | None = None
    definitions: Literal["rephraser", "lighteval"] = Field(
        "rephraser", description="task definitions: ours, or the study's lighteval 0.10 tasks")
    prob_variant: Literal["gold", "all"] = Field("gold", description="prob_norm_token over golds or all choices")
    datasets: str | None = Field(None, description="lighteval definitions: the study's real datasets (see evaluate)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="weights while scoring; auto: bfloat16 for the study profile on CUDA, else float32")
    truncate_fewshot: bool | None = Field(
        None, description="drop shots from the end until an item fits (|3|1); default: on for lighteval definitions")

    @model_validator(mode="after")
    def _study_and_options(self) -> EvalSpec:
        """The study profile means the study's definitions unless set; every option is checked at load time,
        before a grid trains anything (tasks, datasets: evaluate/suite.check_options)."""
        if self.profile == "study" and "definitions" not in self.model_fields_set:
            self.definitions = "lighteval"
        check_options(profile=self.profile, tasks=self.tasks, definitions=self.definitions, datasets=self.datasets,
                      prob_variant=self.prob_variant, dtype=self.dtype)
        return self


class EstimateSpec(Strict):
    price_per_hour: float = Field(2.5, ge=0, description="USD per device-hour in --dry-run costs")


class SlurmSpec(Strict):
    """sbatch settings of every stage job (`--executor slurm`)."""

    partition: str | None = None
    account: str | None = None
    time: str = "24:00:00"
    mem: str | None = Field(None, description='memory per job, e.g. "64G"')
    setup: list[str] = Field(default_factory=list, description="shell lines run first in every job")
    rephraser: str = Field("rephraser", description="how jobs call the CLI")
    extra_sbatch: list[str] = Field(default_factory=list, description='raw directives, e.g. "--qos=high"')


class RaySpec(Strict):
    address: str = Field("auto", description="`auto` (a running cluster), `local`, or ray://host:10001")


class ClusterSpec(Strict):
    """Where stages run under `--executor slurm|ray`; never part of a stage key, so a grid can move between
    executors. `nodes x gpus_per_node` is also what `--dry-run` projects the wall time on."""

    nodes: int = Field(1, ge=1, description="nodes of the cluster (wall-time projection)")
    gpus_per_node: int = Field(8, ge=0)
    train_nodes: int = Field(1, ge=1, description="nodes per CUDA training stage (torchrun on each)")
    cpu_train_ranks: int = Field(1, ge=1, description="CPU training stages: gloo ranks under torchrun (1 = one process)")
    python: str = Field("python", description="the interpreter with rephraser and torch on the nodes (torchrun is "
                        "started as `python -m torch.distributed.run`)")
    retries: int = Field(2, ge=0, description="reruns of a crashed stage job (stages resume)")
    slurm: SlurmSpec = Field(default_factory=SlurmSpec)
    ray: RaySpec = Field(default_factory=RaySpec)


class ExperimentConfig(Strict):
    name: str = "experiment"
    output: str = "out/experiment"
    prompts: list[str] = Field(..., min_length=1, description="prompt names or YAML paths")
    generators: dict[str, GeneratorSpec] = Field(..., min_length=1)
    sources: dict[str, SourceSpec] = Field(default_factory=lambda: {"wiki": SourceSpec()}, min_length=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    mix: MixSpec = Field(default_factory=MixSpec)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data_seeds: list[int] | None = Field(None, description="data-order seeds crossed with `seeds` (default: each "
                                         "run's data seed is its training seed)")
    seed_grids: list[SeedGridSpec] = Field(default_factory=list, description="other seeds for some cells")
    baselines: dict[str, BaselineSpec] = Field(default_factory=lambda: {"source_only": BaselineSpec()})
    corpora: dict[str, CorpusSpec] = Field(default_factory=dict, description="real datasets for mix.mix_with")
    prompt_mixes: dict[str, list[str]] = Field(default_factory=dict, description="cells whose synthetic share "
                                               "mixes several prompts' outputs in equal parts: name -> prompts")
    routings: dict[str, RoutedCellSpec] = Field(default_factory=dict, description="routed cells: name -> routes "
                                                "(route_config.py); each document gets only its route's prompts, "
                                                "and the cell's synthetic share is every routed output")
    students: dict[str, StudentSpec] | None = Field(None, description="the student axis (default: one, `train:`)")
    decay: list[DecaySpec] = Field(default_factory=list)
    compare_to: str | None = Field(None, description="baseline the gaps are measured against (default: the first)")
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    train: TrainFields = Field(default_factory=dict, description="TrainConfig fields shared by every cell")
    eval: EvalSpec = Field(default_factory=EvalSpec)
    estimate: EstimateSpec = Field(default_factory=EstimateSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)

    @field_validator("prompts", "seeds", "data_seeds")
    @classmethod
    def _unique(cls, v: list[Any] | None) -> list[Any] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("values must be unique")
        return v

    @field_validator("train")
    @classmethod
    def _train_ok(cls, v: TrainFields) -> TrainFields:
        _train_fields(v, "train")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        _check_names(list(self.generators), "generator")
        _check_names(list(self.sources), "source")
        _check_names(list(self.baselines), "baseline")
        for name, b in self.baselines.items():
            if b.kind == "source" and b.source is not None and b.source not in self.sources:
                raise ValueError(f"baseline {name}: unknown source {b.source!r} (have: {', '.join(self.sources)})")
        if self.compare_to is not None and self.compare_to not in self.baselines:
            raise ValueError(f"compare_to {self.compare_to!r} is not a baseline (have: {', '.join(self.baselines)})")
        if self.mix.tokens is None and self.train.get("tokens") is None:
            raise ValueError("give mix.tokens or train.tokens (the mixture size defaults to the training budget)")
        _check_names([*self.corpora, *self.prompt_mixes, *self.routings, *(self.students or {})],
                     "corpus/prompt mix/routing/student")
        for name, routing in self.routings.items():
            unknown = [g for g in routing.generators or [] if g not in self.generators]
            if unknown:
                raise ValueError(f"routings.{name}: unknown generator {unknown[0]!r} (have: {', '.join(self.generators)})")
            for p in routing.prompt_names():
                if p not in self.prompts:
                    raise ValueError(f"routings.{name} names prompt {p!r}, which is not in prompts "
                                     f"({', '.join(self.prompts)}); list it there")
        mix_ins = [("mix.mix_with", self.mix.mix_with)]
        mix_ins += [(f"generators.{g}.mix_with", s.mix_with) for g, s in self.generators.items() if s.mix_with]
        for where, names in mix_ins:
            for name in names:
                if name != "source" and name not in self.corpora:
                    raise ValueError(f"{where}: unknown corpus {name!r} (have: source"
                                     f"{''.join(', ' + c for c in self.corpora)})")
        for name, prompts in self.prompt_mixes.items():
            if len(prompts) < 2 or len(set(prompts)) != len(prompts):
                raise ValueError(f"prompt_mixes.{name}: give at least two different prompts")
        for name, st in (self.students or {}).items():
            _train_fields({**self.train, **st.train}, f"students.{name}")
        for n in list(self.seeds) + list(self.data_seeds or []):
            if n < 0:
                raise ValueError("seeds must be >= 0")
        check_world_size(self)
        return self

    # ---- derived ---------------------------------------------------------------------------
    def train_config(self, seed: int) -> TrainConfig:
        """One cell seed's TrainConfig: the grid's `train:` fields (validated when the grid loads) plus the
        seed; data and output are the stage's folders, filled in when the stage runs."""
        return TrainConfig.model_validate({"data": "-", **self.train, "seed": seed, "data_seed": seed})

    @property
    def baseline_name(self) -> str | None:
        return self.compare_to or next(iter(self.baselines), None)

    @property
    def mix_tokens(self) -> int:
        tokens = self.mix.tokens if self.mix.tokens is not None else self.train["tokens"]
        return int(tokens) if isinstance(tokens, (int, float, str)) else 0  # checked when the grid loads

    def replicates(self, cell: str) -> list[tuple[int, int | None]]:
        """(training seed, data seed) runs of a cell; data seed None = the training seed (the default)."""
        grid = next((g for g in self.seed_grids if any(fnmatchcase(cell, p) for p in g.cells)), None)
        seeds, data = (grid.seeds, grid.data_seeds) if grid else (self.seeds, self.data_seeds)
        data_seeds: list[int | None] = list(data) if data else [None]
        return [(s, d) for s in seeds for d in data_seeds]

    def prompts_for(self, generator: str) -> list[str]:
        restricted = self.generators[generator].prompts
        return list(restricted) if restricted is not None else list(self.prompts)


def _train_fields(v: TrainFields, where: str) -> None:
    from rephraser.train.model import PRESETS

    owned = sorted(_GRID_OWNED_TRAIN_FIELDS & set(v))
    if owned:
        raise ValueError(f"{where}: {', '.join(owned)} are set by the grid per cell (use `seeds:` for seeds)")
    if v.get("preset", "tiny-1m") not in PRESETS:
        raise ValueError(f"{where}: unknown preset {v['preset']!r} (choose one of {', '.join(PRESETS)})")
    try:
        TrainConfig.model_validate({"data": "-", **v})
    except ValidationError as e:
        first = e.errors()[0]
        raise ValueError(f"{where}.{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None


def check_world_size(cfg: ExperimentConfig) -> None:
    """Every rank of a torchrun training stage takes the same share of each global batch (train.accumulation)."""
    for name, st in (cfg.students or {"": StudentSpec()}).items():
        t = {**cfg.train, **st.train}
        if t.get("device") == "cuda":
            nodes, ranks = st.train_nodes or cfg.cluster.train_nodes, cfg.cluster.gpus_per_node
        else:
            nodes, ranks = 1, cfg.cluster.cpu_train_ranks
        try:
            accumulation(TrainConfig.model_validate({"data": "-", **t}), max(1, nodes * ranks))
        except ConfigError as e:
            raise ValueError(f"{'students.' + name if name else 'train'}: {e} ({nodes} node(s) x {ranks} ranks)") from None


def check_ratios(v: list[float]) -> list[float]:
    if any(not 0 < r <= 1 for r in v):
        raise ValueError("mix ratios must be in (0, 1]; the 0% point is a `source` baseline")
    labels = [ratio_label(r) for r in v]
    if len(set(labels)) != len(labels):
        raise ValueError(f"mix ratios must differ in whole percent: {labels}")
    return v


def ratio_label(ratio: float) -> str:
    """0.5 -> 'mix50': the folder name `rephraser report` reads a mix ratio from."""
    return f"mix{round(ratio * 100)}"
