"""`rephraser tune`: sweep the embedded engine's settings on a pilot of your documents; write the best."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune_cmd(
        config: Path = typer.Option(..., "--config", "-c", help="run config YAML (its source, prompts and sampling are the pilot's)"),
        output: Path = typer.Option(None, "--output", "-o", help="write the tuned config here (default: beside --config as NAME.tuned.yaml)"),
        docs: int = typer.Option(8, "--docs", min=1, help="documents in each pilot run"),
        max_tokens: int = typer.Option(128, "--max-tokens", min=8, help="cap on new tokens per call in the pilot"),
        budget: float = typer.Option(900.0, "--budget-s", min=1.0, help="stop sweeping after this many seconds"),
        knobs: str = typer.Option(None, "--knobs", help="comma-separated subset of: speculative, speculative_max_draft, "
                                  "parallel, threads, cpu_wait, n_batch, kv_cache (default: all)"),
    ) -> None:
        """Run short pilots with different engine settings (one knob at a time), check the winner against the
        starting settings side by side (ABBA), and write it with the measured table."""
        from rephraser.config import load_yaml
        from rephraser.scale.tune import tune, write_tuned

        cfg = load_yaml(config)
        result = tune(cfg, docs=docs, max_tokens=max_tokens, budget_s=budget,
                      knobs=[k.strip() for k in knobs.split(",") if k.strip()] if knobs else None)
        dest = output or config.with_name(config.stem + ".tuned.yaml")
        write_tuned(cfg, result, dest)
        changed = {k: v for k, v in result.best.items() if result.start.get(k) != v}
        if result.budget_hit:
            typer.echo(f"tune: the {budget:.0f} s budget ended the sweep early")
        if changed:
            typer.echo(f"tune: best {changed}, {result.ratio:.2f}x the starting settings side by side -> {dest}")
            if result.output_changes():
                typer.echo(f"tune: {', '.join(result.output_changes())} change the outputs (the run's fingerprint): "
                           "a run begun with the old values continues only with them")
        else:
            typer.echo(f"tune: nothing beat the starting settings{'' if result.ratio is None else f' (final check {result.ratio:.2f}x)'}; "
                       f"{dest} keeps them, with the table measured")
