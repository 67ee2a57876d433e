"""`rephraser experiment run grid.yaml --executor slurm`: every unfinished stage becomes an sbatch job.

Written into OUT/slurm/:
    <kind>-<key>.sbatch          one job per stage (a generate stage with shards: <...>.shards.sbatch, an
                                 array of shard tasks, then <...>.sbatch finishing the stage)
    results.sbatch               the results table, after every evaluate job (afterany: partial results too)
    submit.sh                    sbatch in dependency order, `--dependency=afterok:<upstream jobs>
                                 --kill-on-invalid-dep=yes`; appends "key job-id script" to jobs.tsv
    plan.json                    the same jobs as data (script, array size, upstream keys), in submit order
    logs/<kind>-<key>-<job>.out  every job's log (absolute paths; jobs run in the folder they were written from)
Independent cells have no dependency on each other, so Slurm runs them in parallel. Stages whose job from
an earlier submission is still pending or running are not submitted again: their new dependents wait on
that job. A failed stage cancels only its dependents; after a fix, running the same command again submits
what is left (finished stages have markers and are skipped).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rephraser.atomic import atomic_write_text
from rephraser.errors import RephraserError
from rephraser.experiments.cells import Stage
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.executor import GridPlan, Records, StageState
from rephraser.experiments.grid import prepare_output
from rephraser.experiments.jobs import StageJob
from rephraser.logs import get_logger
from rephraser.scale.slurm import (
    SlurmOptions,
    common_directives,
    render_script,
    resource_directives,
    retry_function,
)
from rephraser.scale.torchrun import TrainJob, slurm_launch_lines

log = get_logger(__name__)
LIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD",
               "REQUEUE_FED", "SIGNALING", "STAGE_OUT"}


def slurm_dir(out: Path) -> Path:
    return out / "slurm"


def _options(cfg: ExperimentConfig, job: StageJob | None) -> SlurmOptions:
    s = cfg.cluster.slurm
    return SlurmOptions(array=job.shards if job else 1, partition=s.partition, account=s.account, time=s.time,
                        mem=s.mem, gpus_per_task=job.gpus if job else 0,
                        cpus_per_task=job.cpus if job and job.cpus > 1 else None,
                        job_name=cfg.name, setup=list(s.setup), rephraser=s.rephraser, extra_sbatch=list(s.extra_sbatch),
                        retries=cfg.cluster.retries)


def _job_script(cfg: ExperimentConfig, job: StageJob, workdir: Path, logs: Path, shard_tasks: bool) -> str:
    opts = _options(cfg, job)
    name = f"{cfg.name}-{job.stage.kind}-{job.key[:8]}"
    if shard_tasks:
        log = logs / f"{job.name}-%A_%a.out"
        d = common_directives(opts, name, log, workdir)
        d += [f"--array=0-{job.shards - 1}", *resource_directives(opts), "--requeue", "--open-mode=append"]
        cmd = " ".join(shlex.quote(a) for a in job.shard_argv("__TASK__")).replace("__TASK__", "${SLURM_ARRAY_TASK_ID}")
    elif job.torchrun:
        return _torchrun_script(cfg, job, workdir, logs, opts, name)
    else:
        log = logs / f"{job.name}-%j.out"
        d = common_directives(opts, name, log, workdir)
        d += [*resource_directives(opts), "--requeue", "--open-mode=append"]
        cmd = " ".join(shlex.quote(a) for a in job.argv)
    d += opts.extra_sbatch
    body = [_banner(job), *retry_function(), f"retry {opts.retries + 1} {cmd}"]
    return render_script(d, workdir, opts.setup, body)


def _banner(job: StageJob) -> str:
    return f'echo "rephraser {job.stage.kind} stage {job.key} on $(hostname) (slurm restart ${{SLURM_RESTART_COUNT:-0}})"'


def _torchrun_script(cfg: ExperimentConfig, job: StageJob, workdir: Path, logs: Path, opts: SlurmOptions,
                     name: str) -> str:
    """A train stage on `nodes` x `ranks`: write its train.yaml, `srun torchrun ... rephraser train` (one
    torchrun per node, c10d rendezvous on the first host; elastic restarts resume from the newest
    checkpoint), then finish the stage (its marker)."""
    train = TrainJob(nodes=job.nodes, nproc_per_node=job.ranks, gpus=job.gpus > 0, python=cfg.cluster.python,
                     max_restarts=cfg.cluster.retries)
    d = common_directives(opts, name, logs / f"{job.name}-%j.out", workdir)
    d += [f"--nodes={job.nodes}", "--ntasks-per-node=1", "--requeue", "--open-mode=append"]
    if job.gpus:
        d.append(f"--gpus-per-node={job.gpus}")
    d.append(f"--cpus-per-task={job.cpus}")
    if opts.mem:
        d.append(f"--mem={opts.mem}")
    d += opts.extra_sbatch
    retry = f"retry {opts.retries + 1} "
    body = [_banner(job), *retry_function(), retry + " ".join(shlex.quote(a) for a in job.prepare_argv),
            *slurm_launch_lines(job.train_args, train),
            retry + " ".join(shlex.quote(a) for a in job.argv)]
    return render_script(d, workdir, opts.setup, body)


def _results_script(cfg: ExperimentConfig, config: Path, out: Path, workdir: Path, logs: Path) -> str:
    opts = _options(cfg, None)
    argv = [*shlex.split(opts.rephraser), "experiment", "results", str(config), "--output", str(out)]
    d = common_directives(opts, f"{cfg.name}-results", logs / "results-%j.out", workdir) + ["--ntasks=1"]
    return render_script(d, workdir, opts.setup, [" ".join(shlex.quote(a) for a in argv)])


_SUBMIT_HEAD = """#!/usr/bin/env bash
# Submits the grid's unfinished stages in dependency order; records "key<TAB>job id<TAB>script" in jobs.tsv.
set -euo pipefail
JOBS={jobs}
submit() {{  # submit KEY SCRIPT DEPENDENCY -> prints the job id
  local id
  id=$(sbatch --parsable ${{3:+--dependency=$3 --kill-on-invalid-dep=yes}} "$2")
  id=${{id%%;*}}
  printf '%s\\t%s\\t%s\\n' "$1" "$id" "$2" >> "$JOBS"
  echo "$id"
}}
"""


@dataclass
class PlannedJob:
    """One line of plan.json (field order = the file's)."""

    key: str  # a stage key, "<key>:shards" (its array of shard tasks) or "results"
    kind: str
    script: str
    array: int | None  # shard tasks in the array; None: one task
    deps: list[str]


def write_slurm_jobs(cfg: ExperimentConfig, jobs: list[StageJob], config: Path, out: Path,
                     live: dict[str, str], workdir: Path | None = None) -> Path:
    """Write every job script, plan.json and submit.sh; returns submit.sh. `live` maps stage keys to the
    job ids of stages still pending/running from an earlier submission (not submitted again)."""
    workdir = (workdir or Path.cwd()).resolve()
    sdir = slurm_dir(out).resolve()
    logs = sdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)  # Slurm does not create log folders
    var: dict[str, str] = {k: v for k, v in live.items()}  # stage key -> job id or "$J_<key>"
    lines = [_SUBMIT_HEAD.format(jobs=shlex.quote(str(sdir / "jobs.tsv")))]
    plan: list[PlannedJob] = []
    for job in jobs:
        if job.key in live:
            continue
        deps = ":".join(var[k] for k in job.deps)
        after = f"afterok:{deps}" if deps else ""
        if job.shards > 1:
            shards_script = sdir / f"{job.name}.shards.sbatch"
            atomic_write_text(shards_script, _job_script(cfg, job, workdir, logs, shard_tasks=True))
            lines.append(f'J_{job.key}_s=$(submit {job.key}:shards {shlex.quote(str(shards_script))} "{after}")')
            plan.append(PlannedJob(f"{job.key}:shards", job.stage.kind, str(shards_script), job.shards, job.deps))
            after = f"afterok:$J_{job.key}_s"
        script = sdir / f"{job.name}.sbatch"
        atomic_write_text(script, _job_script(cfg, job, workdir, logs, shard_tasks=False))
        lines.append(f'J_{job.key}=$(submit {job.key} {shlex.quote(str(script))} "{after}")')
        plan.append(PlannedJob(job.key, job.stage.kind, str(script), None,
                               [f"{job.key}:shards"] if job.shards > 1 else job.deps))
        var[job.key] = f"$J_{job.key}"
    evals = [var[j.key] for j in jobs if j.stage.kind == "evaluate"]
    results = sdir / "results.sbatch"
    atomic_write_text(results, _results_script(cfg, config, out.resolve(), workdir, logs))
    after = f"afterany:{':'.join(evals)}" if evals else ""
    lines.append(f'J_results=$(submit results {shlex.quote(str(results))} "{after}")')
    plan.append(PlannedJob("results", "results", str(results), None,
                           [j.key for j in jobs if j.stage.kind == "evaluate"]))
    submitted = sum(1 for j in jobs if j.key not in live)
    lines.append(f'echo "submitted {submitted} stage jobs + results (job $J_results); '
                 f'{len(live)} already queued or running"')
    atomic_write_text(sdir / "plan.json", json.dumps([asdict(p) for p in plan], indent=2) + "\n")
    submit = sdir / "submit.sh"
    atomic_write_text(submit, "\n".join(lines) + "\n")
    submit.chmod(0o755)
    return submit


def submit_jobs(submit: Path) -> str:
    res = subprocess.run(["bash", str(submit)], capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RephraserError(f"submitting the grid failed (bash {submit}): {last}")
    return res.stdout


# ---- what Slurm knows about the jobs this grid submitted ---------------------------------------------
def recorded_jobs(out: Path) -> dict[str, tuple[str, str]]:
    """stage key (or "<key>:shards", "results") -> (job id, script) of its newest submission."""
    found: dict[str, tuple[str, str]] = {}
    f = slurm_dir(out) / "jobs.tsv"
    if f.is_file():
        for line in f.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                found[parts[0]] = (parts[1], parts[2])
    return found


def job_states(job_ids: list[str]) -> dict[str, list[str]] | None:
    """job id -> the states of its tasks (squeue, which forgets finished jobs after MinJobAge);
    None when Slurm cannot be asked from here."""
    if not job_ids:
        return {}
    try:
        r = subprocess.run(["squeue", "-h", "-r", "--states=all", "-j", ",".join(job_ids), "-o", "%i|%T"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0 and "invalid job id" not in r.stderr.lower():  # (every id forgotten: not an error)
        return None
    states: dict[str, list[str]] = {}
    for line in r.stdout.split():
        task, _, state = line.partition("|")
        states.setdefault(task.split("_")[0], []).append(state)
    return states


def live_jobs(out: Path) -> dict[str, str]:
    """Stage keys whose newest job (or shard array) is still pending or running -> that job id."""
    rec = recorded_jobs(out)
    states = job_states(sorted({job for job, _ in rec.values()}))
    if states is None and rec:
        raise RephraserError("this grid has Slurm jobs (OUT/slurm/jobs.tsv) but squeue cannot be asked here: "
                             "submit from a machine of the cluster")
    states = states or {}
    live: dict[str, str] = {}
    for key, (job, _) in rec.items():
        if key == "results" or key.endswith(":shards"):
            continue
        arrays = rec.get(f"{key}:shards")
        if any(s in LIVE_STATES for s in states.get(job, [])) or (
                arrays and any(s in LIVE_STATES for s in states.get(arrays[0], []))):
            live[key] = job
    return live


# ---- the executor: submit the plan; a stage's state from jobs.tsv + squeue ---------------------------
_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING"}


class SlurmExecutor:
    name = "slurm"

    def __init__(self, cfg: ExperimentConfig, out: Path, *, submit: bool = True):
        self.cfg, self.out, self.submit = cfg, out, submit

    def run(self, plan: GridPlan) -> None:
        """Write the job scripts and submit.sh, and submit them (unless --no-submit); returns at once."""
        config = prepare_output(plan.cfg, plan.out).resolve()
        live = live_jobs(plan.out)
        jobs = plan.jobs
        submit = write_slurm_jobs(plan.cfg, jobs, config, plan.out, live)
        if not self.submit:
            log.info(f"wrote {len(jobs) - len(live)} stage jobs to {submit.parent}; submit with: bash {submit}")
            return
        log.info(submit_jobs(submit).strip())
        log.info(f"follow with: rephraser experiment status {config}")

    def status(self, stages: Sequence[Stage], done: set[str]) -> Records:
        """Stages this grid submitted: done ones say their job; the others read squeue (pending, running,
        failed with its states and log; `submitted` when squeue cannot be asked from here)."""
        tsv = slurm_dir(self.out) / "jobs.tsv"
        rec = recorded_jobs(self.out)
        squeue = job_states(sorted({job for job, _ in rec.values()}))
        states: dict[str, StageState] = {}
        for stage in stages:
            if stage.key not in rec:
                continue
            if stage.key in done:
                states[stage.key] = StageState("done", f"slurm {rec[stage.key][0]}")
            else:
                states[stage.key] = self._state(stage, rec, squeue)
        return Records(tsv.stat().st_mtime if tsv.is_file() else None, states)

    def _state(self, stage: Stage, rec: dict[str, tuple[str, str]],
               squeue: dict[str, list[str]] | None) -> StageState:
        job, _ = rec[stage.key]
        shards = rec.get(f"{stage.key}:shards")
        if squeue is None:
            return StageState("submitted", f"slurm {job}", detail="squeue cannot be asked from here")
        states = squeue.get(job, []) + (squeue.get(shards[0], []) if shards else [])
        row = StageState("failed", f"slurm {job}" + (f" (shards {shards[0]})" if shards else ""))
        if any(s == "RUNNING" or s == "COMPLETING" for s in states):
            row.state = "running"
        elif states and all(s in _PENDING or s == "COMPLETED" for s in states) and any(s in _PENDING for s in states):
            row.state = "pending"
        elif any(s in _FAILED for s in states):
            row.detail = ", ".join(sorted(set(s for s in states if s in _FAILED)))
        elif states:  # COMPLETED but no marker
            row.detail = "job completed without finishing the stage"
        else:
            row.detail = "job no longer known to Slurm and the stage is not finished"
        row.log = self._newest_log(stage, [job] + ([shards[0]] if shards else []))
        return row

    def _newest_log(self, stage: Stage, jobs: list[str]) -> str | None:
        logs: list[Path] = []
        for job in jobs:
            logs += list((slurm_dir(self.out) / "logs").glob(f"{stage.kind}-{stage.key}-{job}*.out"))
        if not logs:
            return None
        return str(max(logs, key=lambda p: p.stat().st_mtime))
