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

from dataclasses import dataclass
from pathlib import Path

from rephraser.experiments.cells import Cell, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.execute import executors
from rephraser.experiments.executor import StageState
from rephraser.experiments.stages import is_done


@dataclass
class StageStatus:
    kind: str
    key: str
    cells: list[str]
    state: str  # done | running | pending | failed | upstream failed | submitted
    where: str = "-"  # "slurm 1234", "ray", "local"
    log: str | None = None
    detail: str = ""


def grid_status(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> list[StageStatus]:
    users: dict[str, list[str]] = {}
    for c in cells:
        for s in c.stages():
            users.setdefault(s.key, []).append(c.name)
    stages = unique_stages(cells)
    done = {s.key for s in stages if is_done(s, out)}
    records = [e.status(stages, done) for e in executors(cfg, out).values()]
    # the newest record first (in executors' order on a tie); the local folder, which has no time, last
    records.sort(key=lambda r: -r.at if r.at is not None else float("inf"))
    rows = []
    for stage in stages:
        found = next((r.states[stage.key] for r in records if stage.key in r.states), None)
        if found is None:
            found = StageState("done") if stage.key in done else StageState("pending", detail="not started")
        rows.append(StageStatus(stage.kind, stage.key, users.get(stage.key, []), found.state, found.where, found.log,
                                found.detail))
    return rows
