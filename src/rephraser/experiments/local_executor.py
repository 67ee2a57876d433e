"""The local executor: every chosen cell's stages, one after another, in this process.

Cells run one after another, each to the end, so an interrupted grid has whole cells finished; the next
run skips every stage whose marker exists (generation and training also resume mid-stage). Each finished
cell gets its per-cell view at once (`rephraser report OUT` reads them), and the results table is written
at the end.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rephraser.errors import RephraserError
from rephraser.experiments.cells import Stage
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.executor import GridPlan, Records, Results, StageState
from rephraser.experiments.grid import check_models, prepare_output, with_context, write_cell_view
from rephraser.experiments.results import write_results
from rephraser.experiments.stages import is_done, run_stage
from rephraser.logs import get_logger
from rephraser.run_folder import live_writers

log = get_logger(__name__)


class LocalExecutor:
    name = "local"

    def __init__(self, cfg: ExperimentConfig, out: Path):
        self.cfg, self.out = cfg, out

    def run(self, plan: GridPlan) -> Results:
        root = plan.out
        check_models(plan.cfg, plan.chosen, root)  # before OUT is written: a missing model says so at once
        prepare_output(plan.cfg, root)
        todo = {job.key for job in plan.jobs}
        ran = skipped = 0
        for i, cell in enumerate(plan.chosen, 1):
            log.info(f"[{i}/{len(plan.chosen)}] cell {cell.name}")
            for stage in cell.stages():
                if stage.key not in todo or is_done(stage, root):  # shared stages run once, in their first cell
                    skipped += 1
                    continue
                t0 = time.perf_counter()
                try:
                    run_stage(stage, plan.cfg, root, log=lambda msg: log.info(f"  {msg}"))
                except RephraserError as e:  # say where in the grid it failed; the marker is not written
                    raise with_context(e, f"cell {cell.name}, {stage.kind} stage {stage.key}") from None
                ran += 1
                log.info(f"  {stage.kind} {stage.key} done in {time.perf_counter() - t0:.1f}s")
            write_cell_view(cell, root)
        log.info(f"stages run: {ran}, already done: {skipped}")
        return write_results(plan.cfg, plan.cells, root)

    def status(self, stages: Sequence[Stage], done: set[str]) -> Records:
        """A started stage no executor has a record of: `running` while a live process holds a writer
        lease in its folder (a local generate stage), else `pending` and resumable."""
        states = {}
        for stage in stages:
            folder = stage.dir(self.out)
            if stage.key not in done and folder.is_dir():
                states[stage.key] = folder_state(folder)
        return Records(None, states)


def folder_state(folder: Path) -> StageState:
    writers = live_writers(folder)
    if writers:
        return StageState("running", "local", detail=next(iter(writers.values())))
    return StageState("pending", detail="partly done: a rerun resumes it")
