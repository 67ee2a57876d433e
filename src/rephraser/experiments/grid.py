"""A grid's folder and what every executor shares: input checks, OUT/experiment.yaml, one stage as a
cluster job runs it, and the per-cell views `rephraser report` reads.

Output folder:
    experiment.yaml                       the resolved ExperimentConfig
    stages/<kind>/<key>/                  stage outputs; `stage.json` marks a finished stage
    cells/<cell>/[mix<R>/]seed<N>/        per-cell view for `rephraser report OUT`: results.json (suite
                                          results + mix ratio + held-out bpb) and curve.jsonl
    results.csv, results_summary.csv, results.json   the results table (see results.py)

Which executor runs the stages: executor.py (the protocol), execute.py (picks one and drives it).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml

from rephraser import storage
from rephraser.atomic import atomic_write_json, atomic_write_text
from rephraser.engines.models import missing_model
from rephraser.errors import ConfigError, RephraserError
from rephraser.experiments.cells import Cell, Run, expand, run_label, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import is_done, run_generate_shard, run_stage, train_config
from rephraser.logs import get_logger
from rephraser.storage import local_only

log = get_logger(__name__)


def output_dir(cfg: ExperimentConfig, override: str | Path | None = None) -> Path:
    """The grid's folder: local or a shared filesystem, because its cells train on memory-mapped token
    shards and checkpoint there (their inputs — sources, datasets — may be remote URLs)."""
    return local_only(override or cfg.output, "experiment output",
                      "a grid's cells train on memory-mapped token shards and write checkpoints there (inputs may be remote)")


def check_inputs(cfg: ExperimentConfig) -> None:
    """Local input paths must exist before any stage starts (a typo must not surface hours later in a mix
    job); remote URLs are checked by the stage that reads them. `--dry-run` does not call this, so a grid
    for a cluster still plans on a laptop that lacks the data."""
    named = [(f"sources.{n}.source.path", s.source.path) for n, s in cfg.sources.items()]
    used = set(cfg.mix.mix_with).union(*(g.mix_with or [] for g in cfg.generators.values()))
    named += [(f"corpora.{n}.path", c.path) for n, c in cfg.corpora.items() if n in used]
    named += [(f"baselines.{n}.path", b.path) for n, b in cfg.baselines.items() if b.kind == "dataset"]
    for where, path in named:
        if path in (None, "wiki"):
            continue
        loc = storage.as_location(path)
        if isinstance(loc, Path) and not loc.exists():
            raise ConfigError(f"{where}: {path} does not exist")


def check_models(cfg: ExperimentConfig, cells: list[Cell], root: Path) -> None:
    """Every embedded model a chosen cell still has to generate with must be installed here (the local
    executor), checked before any stage runs: a grid that needs the Gemma packages says so at once, not
    after an hour of other cells."""
    for cell in cells:
        for stage in cell.generates:
            gen = stage.meta.generator
            engine = cfg.generators[gen].engine if gen in cfg.generators else None
            model = None if engine is None else engine.embedded_model()
            if model is None or is_done(stage, root):
                continue
            why = missing_model(model)
            if why:
                hint = " (in a rephraser checkout: make install-gemma)" if "gemma" in why else ""
                raise ConfigError(f"generators.{gen} (cell {cell.name}): {why}{hint}")


def prepare_output(cfg: ExperimentConfig, root: Path) -> Path:
    """Create OUT and write the resolved grid to OUT/experiment.yaml, which cluster jobs load (so editing
    grid.yaml while jobs are queued cannot change what they run); returns its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "experiment.yaml"
    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def run_one_stage(cfg: ExperimentConfig, root: Path, key: str, shard: str | None = None,
                  prepare: bool = False) -> None:
    """What a cluster job runs: one stage (or one shard of a generate stage) whose upstream stages are done.
    `prepare` (train stages launched by torchrun): only write <stage>/train.yaml for `rephraser train --config`."""
    stages = {s.key: s for s in unique_stages(expand(cfg))}
    stage = stages.get(key)
    if stage is None:
        raise RephraserError(f"no stage {key} in grid {cfg.name!r} (was the grid changed after the jobs were written?)")
    if is_done(stage, root):
        log.info(f"{stage.kind} {key} is already done")
        return
    missing = [f"{d.kind} {d.key}" for d in stage.deps if not is_done(d, root)]
    if missing:
        raise RephraserError(f"{stage.kind} stage {key} needs {', '.join(missing)} first (not done)")
    if prepare:
        if stage.kind != "train":
            raise RephraserError(f"--prepare applies to train stages, not {stage.kind}")
        path = stage.dir(root) / "train.yaml"
        atomic_write_text(path, yaml.safe_dump(train_config(stage, root).model_dump(mode="json"), sort_keys=False))
        log.info(f"wrote {path}")
        return
    t0 = time.perf_counter()
    try:
        if shard is None:
            run_stage(stage, cfg, root, log=log.info)
        else:
            index, count = _shard(shard, cfg.generation.shards, stage.kind)
            run_generate_shard(stage, cfg, root, index, log=log.info)
    except RephraserError as e:
        raise with_context(e, f"{stage.kind} stage {key}") from None
    log.info(f"{stage.kind} {key}{'' if shard is None else f' shard {shard}'} done in {time.perf_counter() - t0:.1f}s")


def _shard(text: str, count: int, kind: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    if kind != "generate":
        raise RephraserError(f"--shard applies to generate stages, not {kind}")
    if not (i.isdigit() and n.isdigit() and int(n) == count and int(i) < count):
        raise RephraserError(f"--shard {text!r}: this grid's generate stages have {count} shards (i/{count})")
    return int(i), int(n)


def write_cell_views(cells: list[Cell], root: Path) -> None:
    for cell in cells:
        write_cell_view(cell, root)


def with_context(e: RephraserError, where: str) -> RephraserError:
    try:
        return type(e)(f"{where}: {e}")
    except TypeError:  # a subclass with a different constructor
        return RephraserError(f"{where}: {e}")


def cell_seed_dir(cell: Cell, run: Run, root: Path) -> Path:
    return root / "cells" / cell.name / run_label(run)


def write_cell_view(cell: Cell, root: Path) -> None:
    """Copy each finished seed's results + training curve where `rephraser report` looks for them."""
    for run, stage in cell.evaluate.items():
        if not is_done(stage, root):
            continue
        ev = json.loads((stage.dir(root) / "evaluation.json").read_text(encoding="utf-8"))
        results = dict(ev["suite"])
        bpbs = [v["bpb"] for v in ev["heldout_bpb"].values() if v]
        # No config_general.mix_ratio: the report then reads the ratio from the mix<R> folder and groups
        # the cell's ratios into one series (the part of the path before mix<R>).
        results["config_general"] = {**results.get("config_general", {}), "seed": run[0],
                                     "data_seed": run[0] if run[1] is None else run[1], **cell.describe(),
                                     "synthetic_share": cell.ratio}
        results["heldout_bpb"] = sum(bpbs) / len(bpbs) if bpbs else None
        results["stages"] = {"evaluate": stage.key, "train": cell.train[run].key,
                             "mix": cell.mix.key if cell.mix else None}
        d = cell_seed_dir(cell, run, root)
        atomic_write_json(d / "results.json", results, strict=True)
        curve = cell.train[run].dir(root) / "curve.jsonl"
        if curve.is_file():
            shutil.copyfile(curve, d / "curve.jsonl")
