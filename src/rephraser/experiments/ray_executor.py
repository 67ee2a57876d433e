"""`rephraser experiment run grid.yaml --executor ray`: every unfinished stage becomes a Ray task.

A task runs the same stage command as a Slurm job (`rephraser experiment stage ...`) in a subprocess, with
its log in OUT/ray/logs/<kind>-<key>.log, and asks Ray for what the stage needs (`num_gpus` = the engine's
replica for generation shards, `gpus_per_node` for CUDA training, one GPU for CUDA evaluation; CPUs
otherwise). Dependencies are object references passed as arguments: Ray starts a task only when its
upstream tasks succeeded, so independent cells run in parallel and a failed stage fails only its
dependents. A crashed stage command is retried (`cluster.retries`; stages resume); exit status 2, an
error to fix, is not. The driver (this process) waits for every task, keeps OUT/ray/state.json current
for `rephraser experiment status`, then writes the results table.
Training is one torchrun per node here: a training stage that asks for more than one node needs Slurm.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_write_text
from rephraser.errors import ConfigError, RephraserError
from rephraser.experiments.cells import Stage
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.executor import GridPlan, Records, StageState
from rephraser.experiments.grid import prepare_output, write_cell_views
from rephraser.experiments.jobs import StageJob
from rephraser.experiments.results import write_results
from rephraser.logs import get_logger
from rephraser.scale.torchrun import torchrun_argv

USER_ERROR_EXIT = 2
log = get_logger(__name__)


@dataclass
class TaskState:
    """One Ray task's entry in OUT/ray/state.json (field order = the file's; `error` only once it failed)."""

    kind: str  # the stage kind, or "generate shard"
    state: str  # queued | done | failed | upstream failed
    log: str
    upstream: list[str] = field(default_factory=list)  # keys (or "<key>:shard<i>") of the tasks it waits for
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        if self.error is None:
            del d["error"]
        return d


class RayExecutor:
    name = "ray"

    def __init__(self, cfg: ExperimentConfig, out: Path):
        self.cfg, self.out = cfg, out

    def run(self, plan: GridPlan) -> None:
        """Run every job on the Ray cluster (cluster.ray.address) and wait; then the per-cell views and the
        results table (of what finished: a failed stage is raised after them)."""
        config = prepare_output(plan.cfg, plan.out).resolve()
        state = run_on_ray(plan.cfg, plan.jobs, plan.out, plan.cfg.cluster.ray.address)
        write_cell_views(plan.cells, plan.out)
        write_results(plan.cfg, plan.cells, plan.out)
        raise_on_failures(state)
        log.info(f"wrote {plan.out / 'results.csv'}; `rephraser experiment results {config}` prints the table")

    def status(self, stages: Sequence[Stage], done: set[str]) -> Records:
        """Stages of the newest Ray run (OUT/ray/state.json, kept by its driver); `queued` reads `pending`,
        and a task that ended without the stage's marker `failed`."""
        path = ray_dir(self.out) / "state.json"
        if not path.is_file():
            return Records()
        tasks = read_state(path)
        states: dict[str, StageState] = {}
        for stage in stages:
            t = tasks.get(stage.key)
            if t is None:
                continue
            row = StageState(t.state, "ray", t.log, t.error or "")
            if stage.key in done:
                row = StageState("done", "ray")
            elif row.state == "done":  # the task ended but left no marker
                row.state, row.detail = "failed", "task ended without finishing the stage"
            elif row.state == "queued":
                row.state, row.detail = "pending", "queued on Ray"
            states[stage.key] = row
        return Records(path.stat().st_mtime, states)


def read_state(path: Path) -> dict[str, TaskState]:
    return {k: TaskState(**v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


class StageCrashed(Exception):
    """The stage command died or failed in a way a rerun may fix (Ray retries it)."""


class StageFailed(Exception):
    """The stage command reported an error to fix (exit 2): not retried."""


def ray_dir(out: Path) -> Path:
    return out / "ray"


def run_stage_command(commands: list[list[str]], log: str, *upstream: object) -> str:  # noqa: ARG001 - ordering only
    """Body of every Ray task: the stage's commands in subprocesses, one after another, output appended to `log`."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    for argv in commands:
        with open(log, "ab") as fh:
            fh.write(f"$ {' '.join(argv)}\n".encode())
            fh.flush()
            rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        if rc == USER_ERROR_EXIT:
            raise StageFailed(f"exit {rc}: {_last_line(log)}")
        if rc != 0:
            raise StageCrashed(f"exit {rc}: {_last_line(log)}")
    return log


def _commands(cfg: ExperimentConfig, job: StageJob) -> list[list[str]]:
    """One command, or for a torchrun train stage: prepare, `torchrun --standalone ... rephraser train`, finish."""
    if not job.torchrun:
        return [job.argv]
    launch = torchrun_argv(job.train_args, nproc_per_node=job.ranks, max_restarts=cfg.cluster.retries,
                           python=cfg.cluster.python)
    return [job.prepare_argv, launch, job.argv]


def _last_line(log: str) -> str:
    try:
        lines = [ln for ln in Path(log).read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


def run_on_ray(cfg: ExperimentConfig, jobs: list[StageJob], out: Path, address: str) -> dict[str, TaskState]:
    """Run the jobs on a Ray cluster; returns the final state of every stage (also OUT/ray/state.json)."""
    try:
        import ray
    except ImportError:
        raise ConfigError('Ray is not installed: run `pip install "rephraser[ray]"`') from None
    for job in jobs:
        if job.stage.kind == "train" and job.nodes > 1:
            raise ConfigError(f"train stage {job.key} asks for {job.nodes} nodes: Ray runs one torchrun per node; "
                              "use --executor slurm for multi-node training (or cluster.train_nodes: 1)")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise RephraserError(f"cannot connect to Ray at {address!r}: {str(e).splitlines()[0]}") from None
    try:
        return _run(ray, cfg, jobs, out)
    finally:
        if started_here:
            ray.shutdown()


def _run(ray: Any, cfg: ExperimentConfig, jobs: list[StageJob], out: Path) -> dict[str, TaskState]:
    task = ray.remote(run_stage_command)
    logs = ray_dir(out).resolve() / "logs"
    retries, retry_on = cfg.cluster.retries, [StageCrashed]
    refs: dict[str, object] = {}  # task name -> its Ray object reference
    state: dict[str, TaskState] = {}  # stage key (or "<key>:shard<i>") -> kind, state, log, upstream
    for job in jobs:
        upstream = list(job.deps)
        cpus, gpus = job.cpus, job.gpus
        if job.shards > 1:
            shards = [f"{job.key}:shard{i}" for i in range(job.shards)]
            for i, name in enumerate(shards):
                path = str(logs / f"{job.name}-shard{i}.log")
                refs[name] = task.options(name=f"{job.name}-shard{i}", num_cpus=cpus, num_gpus=gpus,
                                          max_retries=retries, retry_exceptions=retry_on).remote(
                    [job.shard_argv(i)], path, *(refs[k] for k in upstream))
                state[name] = TaskState("generate shard", "queued", path, upstream)
            upstream, cpus, gpus = shards, 1, 0
        path = str(logs / f"{job.name}.log")
        if job.torchrun:
            cpus, gpus = job.cpus, job.gpus  # the whole node's ranks
        refs[job.key] = task.options(name=job.name, num_cpus=cpus, num_gpus=gpus, max_retries=retries,
                                     retry_exceptions=retry_on).remote(_commands(cfg, job), path,
                                                                       *(refs[k] for k in upstream))
        state[job.key] = TaskState(job.stage.kind, "queued", path, upstream)

    def save() -> None:
        doc = {k: v.as_json() for k, v in state.items()}
        atomic_write_text(ray_dir(out) / "state.json", json.dumps(doc, indent=2) + "\n")

    save()
    log.info(f"ray: {len(jobs)} stage tasks queued ({len(state) - len(jobs)} of them generation shard tasks)")
    pending = {ref: key for key, ref in refs.items()}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=30.0)
        for ref in ready:
            key = pending.pop(ref)
            st = state[key]
            try:
                ray.get(ref)
                st.state = "done"
            except Exception as e:  # noqa: BLE001 - a RayTaskError wraps the stage's (or an upstream's) failure
                st.state, st.error = "failed", _message(e)
            if ":" not in key:
                log.info(f"  {st.kind} {key} {st.state}" + (f": {st.error}" if st.error else ""))
            save()
    # A task whose upstream failed never ran: Ray passed the upstream's error on. Say so.
    for st in state.values():  # upstream first (insertion order)
        if st.state == "failed" and any(state[u].state in ("failed", "upstream failed") for u in st.upstream):
            st.state, st.error = "upstream failed", "not run: an upstream stage failed"
    save()
    return state


def _message(e: Exception) -> str:
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip()
    return text.splitlines()[-1][:300] if text else type(cause).__name__


def raise_on_failures(state: dict[str, TaskState]) -> None:
    failed = {k: v for k, v in state.items() if v.state == "failed"}
    if failed:
        k, v = next(iter(failed.items()))
        raise RephraserError(f"{len(failed)} stage(s) failed on Ray, e.g. {v.kind} {k}: {v.error} "
                             f"(log: {v.log}); fix it and rerun to resume")
