"""`rephraser report OUT_DIR`: one self-contained HTML report with statistics, plots and a side-by-side viewer."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        out_dir: str = typer.Argument(..., help="a run output folder (local or URL), or an experiment folder with results JSON"),
        output: str = typer.Option(None, "--output", "-o", help="HTML file to write [default: OUT_DIR/report.html]"),
        max_rows: int = typer.Option(2000, "--max-rows", min=1, help="rows embedded in the viewer (sampled beyond)"),
        seed: int = typer.Option(0, "--seed", help="seed of the deterministic row sample"),
        max_chars: int = typer.Option(20_000, "--max-chars", min=100, help="longest text embedded per field"),
        page_size: int = typer.Option(25, "--page-size", min=1, help="viewer rows per page"),
    ) -> None:
        """Write an HTML report (opens offline: inline CSS/JS, plots as embedded PNG)."""
        from rephraser import storage
        from rephraser.report.html import write_report

        path = write_report(out_dir, output, max_rows=max_rows, seed=seed, max_chars=max_chars, page_size=page_size)
        typer.echo(f"wrote {path} ({storage.size(path) / 1e6:.1f} MB)")
