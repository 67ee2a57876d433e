"""`rephraser experiment status grid.yaml`: the state of every stage, wherever it runs.

A stage is `done` when its marker exists (the only proof, whatever the executor). Otherwise the newest
record of an executor says where it is: Slurm (OUT/slurm/jobs.tsv + squeue: pending / running / failed
with the job's log), Ray (OUT/ray/state.json, kept by the driver; its `queued` reads `pending`), or the
folder itself: `running` when a live process holds a writer lease in it (a local generate stage), else
`pending` ("not started", or "partly done" when its folder exists: a rerun resumes it). The states are
the docs' words: done, running, pending, failed (+ `upstream failed` on Ray, `submitted` when squeue
cannot be asked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rephraser.experiments.cells import Cell, unique_stages
from rephraser.experiments.ray_executor import ray_dir
from rephraser.experiments.slurm_executor import job_states, recorded_jobs, slurm_dir
from rephraser.experiments.stages import is_done
from rephraser.writer_leases import LEASES_DIR, live_shard_writers

_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING"}


@dataclass
class StageStatus:
    kind: str
    key: str
    cells: list[str]
    state: str  # done | running | pending | failed | upstream failed | submitted
    where: str = "-"  # "slurm 1234", "ray", "local"
    log: str | None = None
    detail: str = ""


def grid_status(cells: list[Cell], out: Path) -> list[StageStatus]:
    users: dict[str, list[str]] = {}
    for c in cells:
        for s in c.stages():
            users.setdefault(s.key, []).append(c.name)
    slurm = recorded_jobs(out)
    squeue = job_states(sorted({job for job, _ in slurm.values()}))
    ray_file = ray_dir(out) / "state.json"
    ray = json.loads(ray_file.read_text(encoding="utf-8")) if ray_file.is_file() else {}
    slurm_newer = (slurm_dir(out) / "jobs.tsv").is_file() and (
        not ray_file.is_file() or (slurm_dir(out) / "jobs.tsv").stat().st_mtime >= ray_file.stat().st_mtime)
    rows = []
    for stage in unique_stages(cells):
        row = StageStatus(stage.kind, stage.key, users.get(stage.key, []), "pending", detail="not started")
        if is_done(stage, out):
            row.state = "done"
            if stage.key in slurm and (slurm_newer or stage.key not in ray):
                row.where = f"slurm {slurm[stage.key][0]}"
            elif stage.key in ray:
                row.where = "ray"
        elif stage.key in slurm and (slurm_newer or stage.key not in ray):
            _from_slurm(row, out, slurm, squeue)
        elif stage.key in ray:
            r = ray[stage.key]
            row.state, row.where, row.log, row.detail = r["state"], "ray", r.get("log"), r.get("error", "")
            if row.state == "done":  # the task ended but left no marker
                row.state, row.detail = "failed", "task ended without finishing the stage"
            elif row.state == "queued":
                row.state, row.detail = "pending", "queued on Ray"
        elif stage.dir(out).is_dir():
            _from_folder(row, stage.dir(out))
        rows.append(row)
    return rows


def _from_folder(row: StageStatus, folder: Path) -> None:
    """A started stage with no executor record: running if a live process holds a lease in it."""
    writers = live_shard_writers(folder) if (folder / LEASES_DIR).is_dir() else {}
    if writers:
        holder = next(iter(writers.values()))
        row.state, row.where, row.detail = "running", "local", f"host {holder.host} pid {holder.pid}"
    else:
        row.state, row.detail = "pending", "partly done: a rerun resumes it"


def _from_slurm(row: StageStatus, out: Path, slurm: dict, squeue: dict[str, list[str]] | None) -> None:
    job, _ = slurm[row.key]
    shards = slurm.get(f"{row.key}:shards")
    if squeue is None:
        row.where, row.state, row.detail = f"slurm {job}", "submitted", "squeue cannot be asked from here"
        return
    states = squeue.get(job, []) + (squeue.get(shards[0], []) if shards else [])
    row.where = f"slurm {job}" + (f" (shards {shards[0]})" if shards else "")
    if any(s == "RUNNING" or s == "COMPLETING" for s in states):
        row.state = "running"
    elif states and all(s in _PENDING or s == "COMPLETED" for s in states) and any(s in _PENDING for s in states):
        row.state = "pending"
    elif any(s in _FAILED for s in states):
        row.state = "failed"
        row.detail = ", ".join(sorted(set(s for s in states if s in _FAILED)))
    elif states:  # COMPLETED but no marker
        row.state, row.detail = "failed", "job completed without finishing the stage"
    else:
        row.state, row.detail = "failed", "job no longer known to Slurm and the stage is not finished"
    row.log = _newest_log(out, row, [job] + ([shards[0]] if shards else []))


def _newest_log(out: Path, row: StageStatus, jobs: list[str]) -> str | None:
    logs = []
    for job in jobs:
        logs += list((slurm_dir(out) / "logs").glob(f"{row.kind}-{row.key}-{job}*.out"))
    if not logs:
        return None
    return str(max(logs, key=lambda p: p.stat().st_mtime))
