"""`rephraser card OUT_DIR`: write a Hugging Face dataset card (README.md) for a run output folder."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("card")
    def card(
        out_dir: str = typer.Argument(..., help="a run output folder (config.yaml, data/<prompt>/*.parquet), local or URL"),
        output: str = typer.Option(None, "--output", "-o", help="where to write the card [default: OUT_DIR/README.md]"),
        repo: str = typer.Option("<user>/<dataset>", "--repo", help="Hub repo id used in the loading snippet"),
    ) -> None:
        """Write a dataset card: configs per prompt + `all`, license, model, prompts, token statistics."""
        from rephraser.report.card import write_card

        path = write_card(out_dir, output, repo=repo)
        typer.echo(f"wrote {path}")
