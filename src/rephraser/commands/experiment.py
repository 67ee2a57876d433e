"""`rephraser experiment`: run a grid of generate -> mix -> tokenize -> train -> evaluate, and its results table."""

from __future__ import annotations

from pathlib import Path

import typer

experiment_app = typer.Typer(help="Experiment grids: prompts x generators x sources x mix ratios x seeds.",
                             no_args_is_help=True)


def _load(config: Path):
    from rephraser.config import load_yaml
    from rephraser.experiments.config import ExperimentConfig

    return load_yaml(config, ExperimentConfig)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _print_plan(cfg, cells, out: Path, cluster: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from rephraser.commands._console import console as out_console
    from rephraser.experiments.estimate import estimate
    from rephraser.experiments.plan_summary import device_hours_text, summarize, title
    from rephraser.experiments.stages import is_done

    console = out_console()
    est = estimate(cfg, cells, out)
    summary = summarize(cfg, cells, est)
    table = Table(title=escape(title(summary, out)))
    for col in ("cell", "kind", "prompt", "generator", "source", "ratio", "stages done"):
        table.add_column(col)
    for c in cells:
        stages = c.stages()
        done = sum(is_done(s, out) for s in stages)
        table.add_row(escape(c.name), c.kind, c.prompt or "-", c.generator or "-", c.source or "-",
                      "-" if c.ratio is None else f"{c.ratio:.0%}", f"{done}/{len(stages)}")
    console.print(table)
    st = Table(title=f"stages to run ({len(est.stages)} new, {est.done} already done)")
    for col in ("stage", "what", "tokens", "est. time", "device-h", "cost $", "basis"):
        st.add_column(col)
    for s in est.stages:
        st.add_row(f"{s.kind} {s.key[:8]}", escape(s.label), "-" if s.tokens is None else f"{s.tokens:,.0f}",
                   _fmt_s(s.seconds), "-" if s.device_hours is None else f"{s.device_hours:.2f}",
                   "-" if s.cost is None else f"{s.cost:,.2f}", escape(s.basis))
    console.print(st)
    total = summary["seconds"]
    gpu = device_hours_text(summary)
    console.print(f"planned: {summary['generated_tokens']:,.0f} generated tokens, {summary['training_tokens']:,.0f} "
                  f"training tokens; estimated time {_fmt_s(total)} one stage after another"
                  + ("" if total is not None else " (some stages have no estimate)") + (f"; {gpu}" if gpu else ""),
                  highlight=False, soft_wrap=True)  # one line, however long: scripts and tests read it
    if summary["device_hours"] or cluster:
        _print_projection(cfg, cells, out, est, cluster, console)


def _print_projection(cfg, cells, out: Path, est, cluster: str | None, console) -> None:  # noqa: ANN001
    from rephraser.experiments.jobs import plan_jobs
    from rephraser.experiments.projection import parse_cluster, project

    nodes, gpus = parse_cluster(cluster) if cluster else (cfg.cluster.nodes, cfg.cluster.gpus_per_node)
    jobs = plan_jobs(cfg, cells, out, out / "experiment.yaml")
    p = project(jobs, est, nodes, gpus)
    console.print(f"projected: {p.wall_s / 86400:,.1f} days wall on {nodes}x{gpus} GPUs (nodes x GPUs; "
                  f"{cfg.generation.shards} shard(s) per generation, {cfg.cluster.train_nodes}x{gpus} per training run), "
                  f"GPUs busy {p.utilization:.0%}" + (f"; {len(p.missing)} stage(s) without estimate" if p.missing else ""),
                  soft_wrap=True)


@experiment_app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the cells, planned tokens and estimated time; run nothing"),
    only: list[str] = typer.Option(None, "--only", help="run only cells matching this name or glob (repeatable)"),
    executor: str = typer.Option("local", "--executor", help="local (one stage after another, here) | slurm (one "
                                 "sbatch job per stage) | ray (one Ray task per stage)"),
    no_submit: bool = typer.Option(False, "--no-submit", help="slurm: write the job scripts and submit.sh only"),
    cluster: str = typer.Option(None, "--cluster", help='--dry-run: project the wall time on NODESxGPUS, e.g. "8x8" '
                                "[default: cluster.nodes x cluster.gpus_per_node]"),
) -> None:
    """Run (or resume) every cell; each finished stage is cached by the hash of its inputs."""
    from rephraser.commands._console import console as out_console
    from rephraser.experiments.cells import expand, select_cells
    from rephraser.experiments.execute import pick_executor, run_experiment
    from rephraser.experiments.grid import output_dir
    from rephraser.experiments.results import print_table

    cfg = _load(config)
    out = output_dir(cfg, output)
    chosen = pick_executor(executor, cfg, out, submit=not no_submit)
    if dry_run:
        _print_plan(cfg, select_cells(expand(cfg), only), out, cluster)
        return
    console = out_console()  # piped/logged: the results table is not squeezed into 80 columns
    _show_grid_lines(console)
    doc = run_experiment(cfg, out, chosen, only)
    if doc is None:  # Slurm: submitted (a job writes the results); Ray: written, and said so
        return
    print_table(doc, console)
    console.print(f"wrote {out / 'results.csv'}, {out / 'results_summary.csv'}, {out / 'results.json'}; "
                  f"`rephraser report {out}` renders plots")


def _show_grid_lines(console) -> None:  # noqa: ANN001 - a rich Console
    """The grid's own lines (cells, stages, jobs: rephraser.experiments.*) are this command's output, on
    stdout beside its tables; every other library line keeps stderr (logs.configure)."""
    from rephraser import logs

    grid = logs.get_logger("rephraser.experiments")
    for old in [h for h in grid.handlers if isinstance(h, logs.UserHandler)]:
        grid.removeHandler(old)
    handler = logs.UserHandler(console)
    handler.addFilter(logs.RankFilter())
    handler.setFormatter(logs.LineFormatter())
    grid.addHandler(handler)
    grid.propagate = False


@experiment_app.command("stage")
def stage_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML (executors pass OUT/experiment.yaml)"),
    key: str = typer.Argument(..., help="the stage key (OUT/stages/<kind>/<key>)"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
    shard: str = typer.Option(None, "--shard", help="generate stages: run only shard i/N (no marker)"),
    prepare: bool = typer.Option(False, "--prepare", help="train stages: only write <stage>/train.yaml, for "
                                 "`torchrun ... rephraser train --config` (run the stage again afterwards to finish it)"),
) -> None:
    """Run one stage whose upstream stages are done (what every executor job runs)."""
    from rephraser.commands._console import console as out_console
    from rephraser.experiments.grid import output_dir, run_one_stage

    cfg = _load(config)
    _show_grid_lines(out_console())
    run_one_stage(cfg, output_dir(cfg, output), key, shard, prepare=prepare)


@experiment_app.command("status")
def status_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
    as_json: bool = typer.Option(False, "--json", help="print the states as JSON"),
) -> None:
    """Every stage's state: done / running / pending / failed (with its log), on any executor."""
    import json
    from dataclasses import asdict

    from rich.markup import escape
    from rich.table import Table

    from rephraser.commands._console import console as out_console
    from rephraser.experiments.cells import expand
    from rephraser.experiments.grid import output_dir
    from rephraser.experiments.status import grid_status

    cfg = _load(config)
    out = output_dir(cfg, output)
    rows = grid_status(cfg, expand(cfg), out)
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    console = out_console()
    table = Table(title=f"{cfg.name}: {len(rows)} stages in {out}")
    for col in ("stage", "cells", "state", "where", "log / detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = r.cells[0] + (f" +{len(r.cells) - 1}" if len(r.cells) > 1 else "") if r.cells else "-"
        table.add_row(f"{r.kind} {r.key[:8]}", escape(cells), r.state, r.where,
                      escape(" ".join(x for x in (r.log or "", r.detail) if x)))
    console.print(table)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    console.print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))


@experiment_app.command("results")
def results_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
) -> None:
    """Rebuild and print the results table from the finished stages (runs nothing)."""
    from rephraser.commands._console import console as out_console
    from rephraser.experiments.cells import expand
    from rephraser.experiments.grid import output_dir
    from rephraser.experiments.results import print_table, write_results

    cfg = _load(config)
    out = output_dir(cfg, output)
    if not (out / "stages").is_dir():
        from rephraser.errors import ConfigError

        raise ConfigError(f"{out} holds no experiment stages yet; run `rephraser experiment run {config}` first")
    from rephraser.experiments.grid import write_cell_views

    cells = expand(cfg)
    write_cell_views(cells, out)
    print_table(write_results(cfg, cells, out), out_console())


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
