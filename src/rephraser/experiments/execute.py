"""`rephraser experiment run`: pick an executor by name and run a grid's unfinished stages with it.

The command parses options and calls `run_experiment`; everything an executor does (checks, job scripts,
Ray tasks, the results table) happens behind `Executor.run` (executor.py).
"""

from __future__ import annotations

from pathlib import Path

from rephraser.errors import ConfigError
from rephraser.experiments.cells import expand, select_cells
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.executor import Executor, GridPlan, Results
from rephraser.experiments.grid import check_inputs, output_dir
from rephraser.experiments.local_executor import LocalExecutor
from rephraser.experiments.ray_executor import RayExecutor
from rephraser.experiments.slurm_executor import SlurmExecutor


def executors(cfg: ExperimentConfig, out: Path, *, submit: bool = True) -> dict[str, Executor]:
    """Every executor by name, for the grid in `out` (`submit`: Slurm only; False writes the scripts)."""
    return {"local": LocalExecutor(cfg, out), "slurm": SlurmExecutor(cfg, out, submit=submit),
            "ray": RayExecutor(cfg, out)}


def pick_executor(name: str, cfg: ExperimentConfig, out: Path, *, submit: bool = True) -> Executor:
    known = executors(cfg, out, submit=submit)
    if name not in known:
        names = list(known)
        raise ConfigError(f"--executor {name!r}: use {', '.join(names[:-1])} or {names[-1]}")
    return known[name]


def plan_grid(cfg: ExperimentConfig, out: Path, only: list[str] | None = None) -> GridPlan:
    """Check the grid's local inputs and choose its cells (--only). Not called by --dry-run, so a grid for
    a cluster still plans on a laptop that lacks the data."""
    cells = expand(cfg)
    check_inputs(cfg)
    return GridPlan(cfg, out, cells, select_cells(cells, only))


def run_experiment(cfg: ExperimentConfig, out: Path, executor: Executor, only: list[str] | None = None) -> Results | None:
    """Run the chosen cells' unfinished stages with `executor`; returns the results document when every
    stage ran here (None: jobs were submitted)."""
    return executor.run(plan_grid(cfg, out, only))


def run_grid(cfg: ExperimentConfig, *, out: str | Path | None = None, only: list[str] | None = None) -> Results:
    """Run (or resume) the grid here, one stage after another; returns the results document."""
    root = output_dir(cfg, out)
    return LocalExecutor(cfg, root).run(plan_grid(cfg, root, only))
