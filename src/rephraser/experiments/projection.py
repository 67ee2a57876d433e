"""Project a grid's wall time on a cluster of NODES x GPUS (`rephraser experiment run --dry-run --cluster 8x8`).

A small list-scheduling simulation over the stage graph, using the per-stage estimates of estimate.py
(seconds on one device) and the sizes the executors request (jobs.py):
- a generate stage with S shards is S tasks of 1/S of its time, each holding one engine replica's GPUs
  (plus the engine's start-up per task);
- a CUDA train stage holds `train_nodes` whole nodes for its single-GPU time / (train_nodes x gpus_per_node)
  (linear scaling assumed: data parallelism with a fixed global batch);
- a CUDA evaluate stage holds one GPU; CPU stages (source split, tokenizer, mix, tokenize, CPU training)
  need no GPU and are assumed to run beside the GPU work.
Ready stages start longest-remaining-path first, each on the first node(s) with enough free GPUs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from rephraser.engines import engine_spec
from rephraser.errors import ConfigError
from rephraser.experiments.estimate import Estimate
from rephraser.experiments.jobs import StageJob


@dataclass
class Projection:
    nodes: int
    gpus_per_node: int
    wall_s: float
    gpu_hours: float
    missing: list[str]  # stages without an estimate (left out)

    @property
    def utilization(self) -> float:
        total = self.nodes * self.gpus_per_node * self.wall_s / 3600
        return self.gpu_hours / total if total > 0 else 0.0


def parse_cluster(text: str) -> tuple[int, int]:
    a, sep, b = text.lower().partition("x")
    if not (sep and a.strip().isdigit() and b.strip().isdigit() and int(a) > 0 and int(b) >= 0):
        raise ConfigError(f"--cluster {text!r}: give NODESxGPUS_PER_NODE, e.g. 8x8")
    return int(a), int(b)


@dataclass
class _Task:
    key: str
    seconds: float
    gpus: int  # per node
    nodes: int
    deps: list[str]


def _tasks(jobs: list[StageJob], est: Estimate, gpus_per_node: int) -> tuple[list[_Task], list[str]]:
    seconds = {s.key: s.seconds for s in est.stages}
    tasks: list[_Task] = []
    missing: list[str] = []
    for job in jobs:
        t = seconds.get(job.key)
        if t is None:
            missing.append(f"{job.stage.kind} {job.key[:8]}")
            t = 0.0
        if job.shards > 1:
            startup = engine_spec(job.engine_kind).startup_s if job.engine_kind else 0.0
            per = max(0.0, t - startup) / job.shards + startup
            names = [f"{job.key}:{i}" for i in range(job.shards)]
            tasks += [_Task(n, per, job.gpus, 1, job.deps) for n in names]
            tasks.append(_Task(job.key, 0.0, 0, 1, names))
        elif job.stage.kind == "train" and job.gpus:
            world = job.nodes * min(job.gpus, gpus_per_node)
            tasks.append(_Task(job.key, t / max(1, world), min(job.gpus, gpus_per_node), job.nodes, job.deps))
        else:
            tasks.append(_Task(job.key, t, job.gpus, 1, job.deps))
    return tasks, missing


def project(jobs: list[StageJob], est: Estimate, nodes: int, gpus_per_node: int) -> Projection:
    tasks, missing = _tasks(jobs, est, gpus_per_node)
    by_key = {t.key: t for t in tasks}
    for t in tasks:
        if t.nodes > nodes or t.gpus > gpus_per_node:
            raise ConfigError(f"a stage needs {t.nodes} node(s) x {t.gpus} GPU(s); the cluster has {nodes}x{gpus_per_node}")
    children: dict[str, list[str]] = {t.key: [] for t in tasks}
    for t in tasks:
        for d in t.deps:
            children[d].append(t.key)
    rank: dict[str, float] = {}  # longest remaining path: who to start first
    for t in reversed(tasks):  # tasks are upstream first
        rank[t.key] = t.seconds + max((rank[c] for c in children[t.key]), default=0.0)
    waiting = {t.key: sum(1 for d in t.deps if d in by_key) for t in tasks}
    ready = [t.key for t in tasks if waiting[t.key] == 0]
    free = [gpus_per_node] * nodes
    running: list[tuple[float, str, list[tuple[int, int]]]] = []  # (end, key, [(node, gpus)])
    now, gpu_s = 0.0, 0.0
    while ready or running:
        ready.sort(key=lambda k: -rank[k])
        for key in list(ready):
            t = by_key[key]
            held = _place(free, t.gpus, t.nodes)
            if held is None:
                continue
            ready.remove(key)
            gpu_s += t.seconds * t.gpus * t.nodes
            heapq.heappush(running, (now + t.seconds, key, held))
        end, key, held = heapq.heappop(running)
        now = end
        for node, g in held:
            free[node] += g
        for c in children[key]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return Projection(nodes, gpus_per_node, now, gpu_s / 3600, missing)


def _place(free: list[int], gpus: int, nodes: int) -> list[tuple[int, int]] | None:
    if gpus == 0:
        return []
    if nodes > 1:  # whole nodes
        whole = [i for i, f in enumerate(free) if f >= gpus][:nodes]
        if len(whole) < nodes:
            return None
        held = [(i, gpus) for i in whole]
    else:
        fit = next((i for i, f in enumerate(free) if f >= gpus), None)
        if fit is None:
            return None
        held = [(fit, gpus)]
    for i, g in held:
        free[i] -= g
    return held
