"""`rephraser push OUT --repo org/name`: upload a run's data, dataset card, config and statistics to the Hub."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("push")
    def push(
        out_dir: str = typer.Argument(..., help="a local run output folder"),
        repo: str = typer.Option(..., "--repo", help="Hub dataset repo, org/name (created if missing)"),
        private: bool = typer.Option(False, "--private", help="create the repo as private"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the exact plan (files, sizes, commits); send nothing"),
        include_rejected: bool = typer.Option(False, "--include-rejected", help="also upload rejected/ and dead_letter/"),
    ) -> None:
        """One config per prompt (as `rephraser card` writes), by huggingface_hub's resumable large-folder upload.
        The token comes from HF_TOKEN or `hf auth login`; it is never printed or stored."""
        from rephraser.report.hub_push import format_plan, plan_push
        from rephraser.report.hub_push import push as run_push

        plan = plan_push(out_dir, repo, private=private, include_rejected=include_rejected)
        if dry_run:
            typer.echo(format_plan(plan))
            return
        sent = run_push(plan)
        typer.echo(f"pushed {sent['data_files']} data file(s) and {sent['meta_files']} card/metadata file(s) to "
                   f"https://huggingface.co/datasets/{sent['repo']}")
