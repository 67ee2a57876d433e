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
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rephraser.config import (
    EngineConfig,
    PostprocessConfig,
    RetryConfig,
    RolloutConfig,
    SamplingConfig,
    SourceConfig,
    Strict,
)
from rephraser.evaluate.train import TrainConfig

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")  # no '-' or '/': they separate name parts in cell paths
# TrainConfig fields the grid owns: each cell gets its own data, output folder and seed.
_GRID_OWNED_TRAIN_FIELDS = {"data", "output", "seed", "data_seed", "resume"}


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


class GeneratorSpec(Strict):
    engine: EngineConfig = Field(default_factory=EngineConfig)
    prompts: list[str] | None = Field(
        None, description="use this generator only with these prompts (e.g. a base model with `continue`)"
    )
    tok_s: float | None = Field(None, gt=0, description="output tok/s for --dry-run when nothing was measured yet")
    constrain: Literal["auto", "on", "off"] | None = Field(
        None, description="overrides generation.postprocess.constrain for this generator, so constrained and "
        "free decoding of one model are two generators (cells) of one grid")
    note: str | None = None

    def postprocess_for(self, base: PostprocessConfig) -> PostprocessConfig:
        return base if self.constrain is None else base.model_copy(update={"constrain": self.constrain})


class SourceSpec(Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    rephrase_docs: int | None = Field(
        None, ge=1, description="documents rewritten per prompt (the first N of the training split); None = all"
    )


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

    @field_validator("ratios")
    @classmethod
    def _ratios_ok(cls, v: list[float]) -> list[float]:
        if any(not 0 < r <= 1 for r in v):
            raise ValueError("mix ratios must be in (0, 1]; the 0% point is a `source` baseline")
        labels = [ratio_label(r) for r in v]
        if len(set(labels)) != len(labels):
            raise ValueError(f"mix ratios must differ in whole percent: {labels}")
        return v


class TokenizerSpec(Strict):
    vocab_size: int = Field(4096, ge=257)
    min_frequency: int = Field(2, ge=1)
    max_docs: int | None = Field(None, ge=1, description="train the BPE on at most this many source documents")


class EvalSpec(Strict):
    profile: Literal["quick", "full"] = "quick"
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


class EstimateSpec(Strict):
    price_per_hour: float = Field(2.5, ge=0, description="USD per device-hour in --dry-run costs")
    devices: int = Field(1, ge=1)


class ExperimentConfig(Strict):
    name: str = "experiment"
    output: str = "out/experiment"
    prompts: list[str] = Field(..., min_length=1, description="prompt names or YAML paths")
    generators: dict[str, GeneratorSpec] = Field(..., min_length=1)
    sources: dict[str, SourceSpec] = Field(default_factory=lambda: {"wiki": SourceSpec()}, min_length=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    mix: MixSpec = Field(default_factory=MixSpec)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    baselines: dict[str, BaselineSpec] = Field(default_factory=lambda: {"source_only": BaselineSpec()})
    compare_to: str | None = Field(None, description="baseline the gaps are measured against (default: the first)")
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields shared by every cell")
    eval: EvalSpec = Field(default_factory=EvalSpec)
    estimate: EstimateSpec = Field(default_factory=EstimateSpec)

    @field_validator("prompts", "seeds")
    @classmethod
    def _unique(cls, v: list[Any]) -> list[Any]:
        if len(set(v)) != len(v):
            raise ValueError("values must be unique")
        return v

    @field_validator("train")
    @classmethod
    def _train_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(_GRID_OWNED_TRAIN_FIELDS & set(v))
        if owned:
            raise ValueError(f"train: {', '.join(owned)} are set by the grid per cell (use `seeds:` for seeds)")
        TrainConfig(data="-", **v)  # raises a ValidationError naming the bad field
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
        return self

    # ---- derived ---------------------------------------------------------------------------
    def train_config(self, seed: int) -> TrainConfig:
        """One cell seed's TrainConfig: the grid's `train:` fields (validated when the grid loads) plus the
        seed; data and output are the stage's folders, filled in when the stage runs."""
        return TrainConfig(data="-", **self.train, seed=seed, data_seed=seed)

    @property
    def baseline_name(self) -> str | None:
        return self.compare_to or next(iter(self.baselines), None)

    @property
    def mix_tokens(self) -> int:
        return int(self.mix.tokens if self.mix.tokens is not None else self.train["tokens"])

    def prompts_for(self, generator: str) -> list[str]:
        restricted = self.generators[generator].prompts
        return list(restricted) if restricted is not None else list(self.prompts)


def ratio_label(ratio: float) -> str:
    """0.5 -> 'mix50': the folder name `rephraser report` reads a mix ratio from."""
    return f"mix{round(ratio * 100)}"
