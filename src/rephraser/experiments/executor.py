"""The executor seam: what runs a grid's stage jobs (here, on Slurm, on Ray) and says where each one is.

An executor never decides what a stage produces (its key, folder and marker are the stage's); it decides
where its jobs run and how a job waits for its upstream jobs. Every executor gets the same `GridPlan`
(the cells chosen, the stage jobs still to run, upstream first) and reports stage states with the same
`StageStatus` words. Implementations, one module each: `local_executor.py` (one stage after another in
this process), `slurm_executor.py` (sbatch jobs chained by afterok), `ray_executor.py` (Ray tasks chained
by object references); `execute.py` picks one by name and drives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from rephraser.experiments.cells import Cell, Stage
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.jobs import StageJob, plan_jobs
from rephraser.experiments.results import ResultsDoc

# The results document (results.py writes it as OUT/results.json); an executor that ran every stage
# here returns it, one that only submitted jobs returns None.
Results = ResultsDoc


@dataclass
class GridPlan:
    """One `experiment run`: the grid, its folder, every cell (the results table covers all of them) and
    the cells chosen with --only (whose unfinished stages are the jobs)."""

    cfg: ExperimentConfig
    out: Path
    cells: list[Cell]
    chosen: list[Cell]

    @property
    def config(self) -> Path:
        """OUT/experiment.yaml, the resolved grid every cluster job loads (grid.prepare_output writes it)."""
        return (self.out / "experiment.yaml").resolve()

    @cached_property
    def jobs(self) -> list[StageJob]:
        """The chosen cells' stages without a marker, upstream first, as the command each job runs."""
        return plan_jobs(self.cfg, self.chosen, self.out.resolve(), self.config, self.cfg.cluster.slurm.rephraser)


@dataclass
class StageState:
    """Where a stage is, in the docs' words (status.py adds which stage and which cells)."""

    state: str  # done | running | pending | failed | upstream failed | submitted
    where: str = "-"  # "slurm 1234", "ray", "local"
    log: str | None = None
    detail: str = ""


@dataclass
class Records:
    """What one executor knows of a grid's stages: its newest record's time (the newest executor speaks
    for a stage two executors have records of) and, per stage key, the state it reports."""

    at: float | None = None  # modification time of its record file; None: no time (the local folder)
    states: dict[str, StageState] = field(default_factory=dict)


class Executor(Protocol):
    name: str

    def run(self, plan: GridPlan) -> Results | None:
        """Run (or submit) the plan's jobs; returns the results document when every stage ran here."""
        ...

    def status(self, stages: Sequence[Stage], done: set[str]) -> Records:
        """The state of each stage this executor has a record of (`done`: keys whose marker exists)."""
        ...
