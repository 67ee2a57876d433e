"""The grid as jobs for a cluster executor: which stages still have to run, what each one needs, and after what.

Executors never decide what a stage produces (its key, cache and marker stay as in stages.py); they only
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

from rephraser.config import RunConfig
from rephraser.experiments.cells import Cell, Stage, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import is_done
from rephraser.scale.ray import engine_gpus


@dataclass
class StageJob:
    stage: Stage
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


def train_world(cfg: ExperimentConfig, stage: Stage) -> tuple[int, int, int]:
    """(nodes, ranks per node, GPUs per node) of a train stage: CUDA training uses every GPU of
    `train_nodes` nodes (the student's own count first); CPU training runs `cpu_train_ranks` gloo ranks."""
    student = (cfg.students or {}).get(stage.meta.get("student") or "")
    if stage.spec["train"].get("device") == "cuda":
        nodes = (student.train_nodes if student else None) or cfg.cluster.train_nodes
        return nodes, cfg.cluster.gpus_per_node, cfg.cluster.gpus_per_node
    return 1, cfg.cluster.cpu_train_ranks, 0


def _size(job: StageJob, cfg: ExperimentConfig) -> None:
    s = job.stage
    if s.kind == "generate":
        engine = cfg.generators[s.meta["generator"]].engine
        job.shards, job.engine_kind = cfg.generation.shards, engine.kind
        job.gpus = engine_gpus(RunConfig(engine=engine))
        job.cpus = engine.cpus_per_job()
    elif s.kind == "train":
        job.nodes, job.ranks, job.gpus = train_world(cfg, s)
        job.cpus = 1 if job.gpus else job.ranks
        job.torchrun = job.nodes * job.ranks > 1 or job.gpus > 0
    elif s.kind == "evaluate":
        job.gpus = 1 if s.dep("train").spec["train"].get("device") == "cuda" else 0
