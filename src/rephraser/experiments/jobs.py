"""The grid as jobs for a cluster executor: which stages still have to run, what each one needs, and after what.

Executors never decide what a stage produces (its key, cache and marker stay as in stages/); they only
decide where it runs and how its dependencies are expressed (Slurm `--dependency=afterok`, Ray object
references). Every job runs the same command on any executor:

    rephraser experiment stage OUT/experiment.yaml KEY -o OUT [--shard i/N]

A generate stage with `generation.shards: N > 1` becomes N shard tasks (an array) and a finish job that
checks every shard and writes the marker; a train stage asks for `nodes x gpus_per_node`; the others
run on one CPU (evaluate on one GPU when the proxy trains on CUDA).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from rephraser.experiments.cells import Cell, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import AnyStage, is_done


@dataclass
class StageJob:
    stage: AnyStage
    out: Path  # the grid's output folder
    argv: list[str]  # the stage command; shard tasks add --shard i/N
    shards: int = 1  # > 1: an array of shard tasks, then argv itself finishes the stage
    gpus: int = 0  # per task (per node for training)
    cpus: int = 1
    nodes: int = 1
    ranks: int = 1  # training ranks per node under torchrun (its GPUs, or gloo processes on CPU)
    torchrun: bool = False  # a train stage launched as prepare -> torchrun `rephraser train` -> finish
    engine_kind: str | None = None  # generate stages: the engine (its start-up is paid per shard)
    deps: list[str] = field(default_factory=list)  # keys of upstream stages that are not done yet

    @property
    def key(self) -> str:
        return self.stage.key

    @property
    def name(self) -> str:
        return f"{self.stage.kind}-{self.stage.key}"

    def shard_argv(self, index: int | str) -> list[str]:
        return [*self.argv, "--shard", f"{index}/{self.shards}"]

    @property
    def prepare_argv(self) -> list[str]:
        """A torchrun train stage: check upstream, write <stage>/train.yaml for `rephraser train --config`."""
        return [*self.argv, "--prepare"]

    @property
    def train_args(self) -> list[str]:
        return ["train", "--config", str(self.stage.dir(self.out) / "train.yaml")]


def stage_argv(rephraser: str, config: Path, key: str, out: Path) -> list[str]:
    return [*shlex.split(rephraser), "experiment", "stage", str(config), key, "--output", str(out)]


def plan_jobs(cfg: ExperimentConfig, cells: list[Cell], out: Path, config: Path, rephraser: str = "rephraser") -> list[StageJob]:
    """Jobs for every stage of `cells` without a marker, upstream first."""
    jobs: list[StageJob] = []
    pending: set[str] = set()
    for stage in unique_stages(cells):
        if is_done(stage, out):
            continue
        job = StageJob(stage, out, stage_argv(rephraser, config, stage.key, out),
                       deps=[d.key for d in stage.deps if d.key in pending])
        _size(job, cfg)
        jobs.append(job)
        pending.add(stage.key)
    return jobs


def _size(job: StageJob, cfg: ExperimentConfig) -> None:
    r = job.stage.resources(cfg)  # each stage kind says what its job needs (stages/<kind>.py)
    job.shards, job.gpus, job.cpus, job.nodes, job.ranks = r.shards, r.gpus, r.cpus, r.nodes, r.ranks
    job.torchrun, job.engine_kind = r.torchrun, r.engine_kind
