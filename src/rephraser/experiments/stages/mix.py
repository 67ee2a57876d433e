"""mix: a cell's training mixture: its synthetic share (one or several generate stages) plus the real
share (the source's training split, or a corpus), or a baseline's single component."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    SMALL_STAGE_S,
    AnyStage,
    JsonModel,
    NoMeta,
    RunContext,
    Stage,
    StageEstimate,
    StageOutputs,
    StageSpec,
)
from rephraser.experiments.stages.generate import GenerateStage
from rephraser.experiments.stages.generate_figures import Number
from rephraser.experiments.stages.source import SourceStage
from rephraser.experiments.stages.tokenizer import TokenizerStage
from rephraser.mix.config import MixComponent, MixConfig
from rephraser.mix.mixer import run_mix

MIX_TOKENS_PER_S = 1e6  # --dry-run: mixing + tokenizing (Rust BPE over 2 cores), per stage


class RephrasedPart(JsonModel):
    OMIT_IF_NONE = frozenset({"routed"})
    kind: Literal["rephrased"] = "rephrased"
    prompt: str  # the generate stage's prompt name (a routed stage: its routing's name)
    routed: bool | None = None  # True: every prompt's rows of a routed stage
    weight: float


class SourcePart(JsonModel):
    kind: Literal["source"] = "source"
    weight: float


class DatasetPart(JsonModel):
    kind: Literal["dataset"] = "dataset"
    path: str | None
    prompt: str | None
    text_column: str
    weight: float


MixPart = Annotated[RephrasedPart | SourcePart | DatasetPart, Field(discriminator="kind")]


class MixSpec(StageSpec):
    components: list[MixPart]
    tokens: int
    seed: int


class ComponentFigures(StageOutputs):
    achieved_share: Number | None = None
    unique_documents: int | None = None
    repeat_factor: Number | None = None


class MixOutputs(StageOutputs):
    achieved_tokens: int | None = None
    documents: int | None = None
    components: dict[str, ComponentFigures] = {}


@KINDS.register
class MixStage(Stage[MixSpec, NoMeta]):
    kind = "mix"
    rank = 3
    Outputs = MixOutputs

    def run(self, ctx: RunContext) -> MixOutputs:
        comps = []
        generates = {g.meta.prompt: g for g in self.deps_of(GenerateStage)}
        for c in self.spec.components:
            if isinstance(c, RephrasedPart):
                gen = generates[c.prompt]
                gen.require_rows(ctx.out)
                name = "synthetic" if len(generates) == 1 else f"synthetic_{c.prompt}"
                comps.append(MixComponent(path=str(gen.dir(ctx.out)), kind="rephrased",  # routed: every prompt's rows
                                          prompt=None if c.routed else c.prompt, weight=c.weight, name=name))
            elif isinstance(c, SourcePart):
                comps.append(MixComponent(path=str(self.dep(SourceStage).dir(ctx.out) / "train.jsonl"), kind="source",
                                          weight=c.weight, name="original"))
            else:
                comps.append(MixComponent(path=c.path, prompt=c.prompt, text_column=c.text_column, weight=c.weight,
                                          name="dataset"))
        tokenizer = self.dep(TokenizerStage).dir(ctx.out) / "tokenizer.json"
        mix = MixConfig(components=comps, tokens=self.spec.tokens, seed=self.spec.seed, output=str(ctx.dir),
                        tokenizer=str(tokenizer))
        manifest = run_mix(mix, overwrite=True)
        ctx.log(f"mix: {manifest['achieved_tokens']:,} tokens from {', '.join(c.label() for c in comps)}")
        return MixOutputs(achieved_tokens=manifest["achieved_tokens"], documents=manifest["documents"],
                          components={c["name"]: ComponentFigures.model_validate(
                              {k: c[k] for k in ("achieved_share", "unique_documents", "repeat_factor")})
                              for c in manifest["components"]})

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        return mixing_estimate(self, cfg)


def mixing_estimate(stage: AnyStage, cfg: ExperimentConfig) -> StageEstimate:
    """Mixing and tokenizing: a pass over the mixture's tokens."""
    tokens = float(cfg.mix_tokens)
    return StageEstimate(stage.kind, stage.key, stage.kind, tokens=tokens,
                         seconds=SMALL_STAGE_S + tokens / MIX_TOKENS_PER_S, basis="CPU default")
