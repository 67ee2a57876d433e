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


def _print_plan(cfg, cells, out: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rephraser.experiments.estimate import estimate
    from rephraser.experiments.stages import is_done

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    table = Table(title=f"{cfg.name}: {len(cells)} cells x {len(cfg.seeds)} seeds -> {out}")
    for col in ("cell", "kind", "prompt", "generator", "source", "ratio", "stages done"):
        table.add_column(col)
    for c in cells:
        stages = c.stages()
        done = sum(is_done(s, out) for s in stages)
        table.add_row(escape(c.name), c.kind, c.prompt or "-", c.generator or "-", c.source or "-",
                      "-" if c.ratio is None else f"{c.ratio:.0%}", f"{done}/{len(stages)}")
    console.print(table)
    est = estimate(cfg, cells, out)
    st = Table(title=f"stages to run ({len(est.stages)} new, {est.done} already done)")
    for col in ("stage", "what", "tokens", "est. time", "device-h", "cost $", "basis"):
        st.add_column(col)
    for s in est.stages:
        st.add_row(f"{s.kind} {s.key[:8]}", escape(s.label), "-" if s.tokens is None else f"{s.tokens:,.0f}",
                   _fmt_s(s.seconds), "-" if s.device_hours is None else f"{s.device_hours:.2f}",
                   "-" if s.cost is None else f"{s.cost:,.2f}", escape(s.basis))
    console.print(st)
    by_kind: dict[str, float] = {}
    for s in est.stages:
        by_kind[s.kind] = by_kind.get(s.kind, 0.0) + (s.tokens or 0.0)
    gen_tokens = by_kind.get("generate", 0.0)
    train_tokens = by_kind.get("train", 0.0)
    total = est.total_seconds()
    device_h = sum(s.device_hours or 0.0 for s in est.stages)
    cost = sum(s.cost or 0.0 for s in est.stages)
    console.print(f"planned: {gen_tokens:,.0f} generated tokens, {train_tokens:,.0f} training tokens; "
                  f"estimated time {_fmt_s(total)}" + ("" if total is not None else " (some stages have no estimate)")
                  + (f"; {device_h:,.1f} GPU-hours ≈ ${cost:,.0f} at ${cfg.estimate.price_per_hour}/h"
                     f" on {cfg.estimate.devices} device(s): {_fmt_s(device_h * 3600 / cfg.estimate.devices)} wall"
                     if device_h else ""))


@experiment_app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the cells, planned tokens and estimated time; run nothing"),
    only: list[str] = typer.Option(None, "--only", help="run only cells matching this name or glob (repeatable)"),
) -> None:
    """Run (or resume) every cell; each finished stage is cached by the hash of its inputs."""
    from rich.console import Console
    from rich.markup import escape

    from rephraser.experiments.cells import expand, select_cells
    from rephraser.experiments.grid import output_dir, run_grid
    from rephraser.experiments.results import print_table

    cfg = _load(config)
    out = output_dir(cfg, output)
    if dry_run:
        _print_plan(cfg, select_cells(expand(cfg), only), out)
        return
    console = Console()
    if not console.is_terminal:  # piped/logged: do not squeeze the results table into 80 columns
        console = Console(width=200)
    doc = run_grid(cfg, out=out, only=only, log=lambda msg: console.print(escape(msg), highlight=False))
    print_table(doc, console)
    console.print(f"wrote {out / 'results.csv'}, {out / 'results_summary.csv'}, {out / 'results.json'}; "
                  f"`rephraser report {out}` renders plots")


@experiment_app.command("results")
def results_cmd(
    config: Path = typer.Argument(..., help="experiment grid YAML"),
    output: str = typer.Option(None, "--output", "-o", help="output folder [default: output: in the YAML]"),
) -> None:
    """Rebuild and print the results table from the finished stages (runs nothing)."""
    from rich.console import Console

    from rephraser.experiments.cells import expand
    from rephraser.experiments.grid import output_dir
    from rephraser.experiments.results import print_table, write_results

    cfg = _load(config)
    out = output_dir(cfg, output)
    if not (out / "stages").is_dir():
        from rephraser.errors import ConfigError

        raise ConfigError(f"{out} holds no experiment stages yet; run `rephraser experiment run {config}` first")
    console = Console()
    print_table(write_results(cfg, expand(cfg), out), console if console.is_terminal else Console(width=200))


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
