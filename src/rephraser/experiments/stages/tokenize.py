"""tokenize: a cell's mixture with the grid's tokenizer, a held-out split kept for the training loss."""

from __future__ import annotations

from pathlib import Path

from pydantic import JsonValue

from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    NoMeta,
    RunContext,
    Stage,
    StageEstimate,
    StageOutputs,
    StageSpec,
)
from rephraser.experiments.stages.mix import MixStage, mixing_estimate
from rephraser.experiments.stages.tokenizer import TokenizerStage
from rephraser.mix.text_files import iter_texts
from rephraser.mix.tokenize import load_tokenizer, tokenize_texts


class TokenizeSpec(StageSpec):
    heldout_fraction: float


class TokenizeOutputs(StageOutputs):
    splits: dict[str, JsonValue] = {}  # per split: what the token writer counted (mix/tokenize.py)


@KINDS.register
class TokenizeStage(Stage[TokenizeSpec, NoMeta]):
    kind = "tokenize"
    rank = 4
    Outputs = TokenizeOutputs

    def run(self, ctx: RunContext) -> TokenizeOutputs:
        tok_stage = self.dep(TokenizerStage)
        tok = load_tokenizer(tok_stage.dir(ctx.out) / "tokenizer.json")
        meta = tokenize_texts(iter_texts(self.dep(MixStage).dir(ctx.out)), ctx.dir, tok,
                              f"grid tokenizer {tok_stage.key}", heldout_fraction=self.spec.heldout_fraction)
        return TokenizeOutputs(splits=meta["splits"])

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        return mixing_estimate(self, cfg)
