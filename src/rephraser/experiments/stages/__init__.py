"""Stage kinds of an experiment grid, one module each (stages/<kind>.py), registered in KINDS.

A new kind is one module here: a Stage subclass with its Spec and Outputs models, `run`, `resources` and
(when not small) `estimate`, registered with `@KINDS.register` and imported below; its `rank` places it in
the pipeline.
"""

from __future__ import annotations

from pathlib import Path

from rephraser.config import RunConfig
from rephraser.errors import RephraserError
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    MARKER,
    AnyStage,
    Log,
    Marker,
    Stage,
    is_done,
    read_marker,
    run_stage,
)
from rephraser.experiments.stages.evaluate import EvaluateStage
from rephraser.experiments.stages.generate import GenerateStage
from rephraser.experiments.stages.mix import MixStage
from rephraser.experiments.stages.source import SourceStage
from rephraser.experiments.stages.tokenize import TokenizeStage
from rephraser.experiments.stages.tokenizer import TokenizerStage
from rephraser.experiments.stages.train import TrainStage
from rephraser.generate.stats import RunStats
from rephraser.logs import get_logger
from rephraser.train.trainer import TrainConfig

__all__ = ["KINDS", "MARKER", "AnyStage", "EvaluateStage", "GenerateStage", "Marker", "MixStage", "SourceStage",
           "Stage", "TokenizeStage", "TokenizerStage", "TrainStage", "generation_config", "is_done", "read_marker",
           "run_generate_shard", "run_stage", "train_config"]

_log = get_logger(__name__)


def generation_config(stage: AnyStage, cfg: ExperimentConfig, out: Path, shard: int = 0) -> RunConfig:
    """The RunConfig of one shard of a generate stage (GenerateStage.run_config)."""
    if not isinstance(stage, GenerateStage):
        raise RephraserError(f"{stage.kind} stage {stage.key} is not a generate stage")
    return stage.run_config(cfg, out, shard)


def run_generate_shard(stage: AnyStage, cfg: ExperimentConfig, out: Path, shard: int, log: Log = _log.info) -> RunStats:
    """One shard of a generate stage (a Slurm array task or a Ray task); resumable, no marker."""
    if not isinstance(stage, GenerateStage):
        raise RephraserError(f"--shard applies to generate stages, not {stage.kind}")
    return stage.run_shard(cfg, out, shard, log)


def train_config(stage: AnyStage, out: Path) -> TrainConfig:
    """The TrainConfig of a train stage (what `rephraser train` runs for it, under torchrun or not)."""
    if not isinstance(stage, TrainStage):
        raise RephraserError(f"--prepare applies to train stages, not {stage.kind}")
    return stage.train_config(out)
