"""`rephraser export OUT_DIR --schema finephrase`: a finished run's published rows in the study's layout."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        out_dir: str = typer.Argument(..., help="a run output folder (local or URL)"),
        schema: str = typer.Option("finephrase", "--schema", help="finephrase: the layout of HuggingFaceFW/finephrase"),
    ) -> None:
        """Write OUT_DIR/finephrase/<prompt>/*.parquet: one row per document (`text` = the source, `id`,
        `metadata`) with its generations in `rollout_results` [{text, finish_reason, usage}], as the study
        released its data. The run's own files are only read; `rephraser card` then lists both layouts."""
        from rephraser.commands.run import print_export
        from rephraser.errors import ConfigError

        if schema != "finephrase":
            raise ConfigError(f"--schema must be finephrase (the run's own layout is already on disk), got {schema!r}")
        print_export(out_dir)
