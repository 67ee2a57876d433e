"""Running a grid: every cell's stages in order, skipping finished ones, then the results table.

Output folder:
    experiment.yaml                       the resolved ExperimentConfig
    stages/<kind>/<key>/                  stage outputs; `stage.json` marks a finished stage
    cells/<cell>/[mix<R>/]seed<N>/        per-cell view for `rephraser report OUT`: results.json (suite
                                          results + mix ratio + held-out bpb) and curve.jsonl
    results.csv, results_summary.csv, results.json   the results table (see results.py)

Cells run one after another, each to the end, so an interrupted grid has whole cells finished; the
next run skips every stage whose marker exists (generation and training also resume mid-stage).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from rephraser.atomic import atomic_write_json, atomic_write_text
from rephraser.errors import ConfigError, RephraserError
from rephraser.experiments.cells import Cell, expand, select_cells
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.results import write_results
from rephraser.experiments.stages import is_done, run_stage
from rephraser.storage import is_remote


def output_dir(cfg: ExperimentConfig, override: str | Path | None = None) -> Path:
    """The grid's folder: local or a shared filesystem, because its cells train on memory-mapped token
    shards and checkpoint there (their inputs — sources, datasets — may be remote URLs)."""
    where = override or cfg.output
    if is_remote(where):
        raise ConfigError(f"experiment output {where}: a grid trains on memory-mapped token shards and writes "
                          "checkpoints, so its folder must be local or on a shared filesystem (inputs may be remote)")
    return Path(where)


def run_grid(cfg: ExperimentConfig, *, out: str | Path | None = None, only: list[str] | None = None,
             log: Any = print) -> dict[str, Any]:
    """Run (or resume) the grid; returns the results document (also written to OUT/results.json)."""
    root = output_dir(cfg, out)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "experiment.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    cells = expand(cfg)
    chosen = select_cells(cells, only)
    ran = skipped = 0
    for i, cell in enumerate(chosen, 1):
        log(f"[{i}/{len(chosen)}] cell {cell.name}")
        for stage in cell.stages():
            if is_done(stage, root):
                skipped += 1
                continue
            t0 = time.perf_counter()
            try:
                run_stage(stage, cfg, root, log=lambda msg: log(f"  {msg}"))
            except RephraserError as e:  # say where in the grid it failed; the marker is not written
                raise _with_context(e, f"cell {cell.name}, {stage.kind} stage {stage.key}") from None
            ran += 1
            log(f"  {stage.kind} {stage.key} done in {time.perf_counter() - t0:.1f}s")
        write_cell_view(cell, root)
    log(f"stages run: {ran}, already done: {skipped}")
    return write_results(cfg, cells, root)


def _with_context(e: RephraserError, where: str) -> RephraserError:
    try:
        return type(e)(f"{where}: {e}")
    except TypeError:  # a subclass with a different constructor
        return RephraserError(f"{where}: {e}")


def cell_seed_dir(cell: Cell, seed: int, root: Path) -> Path:
    return root / "cells" / cell.name / f"seed{seed}"


def write_cell_view(cell: Cell, root: Path) -> None:
    """Copy each finished seed's results + training curve where `rephraser report` looks for them."""
    for seed, stage in cell.evaluate.items():
        if not is_done(stage, root):
            continue
        ev = json.loads((stage.dir(root) / "evaluation.json").read_text(encoding="utf-8"))
        results = dict(ev["suite"])
        bpbs = [v["bpb"] for v in ev["heldout_bpb"].values() if v]
        # No config_general.mix_ratio: the report then reads the ratio from the mix<R> folder and groups
        # the cell's ratios into one series (the part of the path before mix<R>).
        results["config_general"] = {**results.get("config_general", {}), "seed": seed, **cell.describe(),
                                     "synthetic_share": cell.ratio}
        results["heldout_bpb"] = sum(bpbs) / len(bpbs) if bpbs else None
        results["stages"] = {"evaluate": stage.key, "train": cell.train[seed].key,
                             "mix": cell.mix.key if cell.mix else None}
        d = cell_seed_dir(cell, seed, root)
        atomic_write_json(d / "results.json", results, strict=True)
        curve = cell.train[seed].dir(root) / "curve.jsonl"
        if curve.is_file():
            shutil.copyfile(curve, d / "curve.jsonl")
