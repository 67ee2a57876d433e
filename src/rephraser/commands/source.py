"""`rephraser source check [PATH]`: validate an input source without running any model."""

from __future__ import annotations

import typer

source_app = typer.Typer(
    help="Inspect input sources (JSONL, Parquet, folders, the embedded wiki).", no_args_is_help=True
)


@source_app.command("check")
def check_source(
    path: str | None = typer.Argument(None, help="file or folder; omit for the embedded wiki extracts"),
    fmt: str = typer.Option("auto", "--format", help="auto | jsonl | parquet | arrow | wiki"),
    dataset_config: str | None = typer.Option(None, "--dataset-config", help="HF dataset: config (README configs:)"),
    split: str | None = typer.Option(None, "--split", help="HF dataset: split [default: train, or the only one]"),
    text_column: str = typer.Option("text", "--text-column"),
    id_column: str | None = typer.Option("id", "--id-column", help="'' = always derive ids from the text"),
    max_chars: int = typer.Option(2_000_000, "--max-chars", help="longer documents are rejected"),
    on_duplicate_id: str = typer.Option("error", "--on-duplicate-id", help="error | reject"),
    limit: int | None = typer.Option(None, "--limit", help="stop after this many records"),
    shard_index: int = typer.Option(0, "--shard-index"),
    shard_count: int = typer.Option(1, "--shard-count"),
    sharding: str = typer.Option("auto", "--sharding", help="auto | files | row_groups | hash"),
) -> None:
    """Count documents and rejections (grouped by reason, with the first place each occurs)."""
    from rephraser.config import SourceConfig, validate
    from rephraser.sources.summary import summarize_source

    cfg = validate(
        {
            "path": path,
            "format": fmt,
            "config": dataset_config,
            "split": split,
            "text_column": text_column,
            "id_column": id_column or None,
            "max_chars": max_chars,
            "on_duplicate_id": on_duplicate_id,
            "limit": limit,
            "shard_index": shard_index,
            "shard_count": shard_count,
            "sharding": sharding,
        },
        SourceConfig,
        origin="source options",
    )
    s = summarize_source(cfg)
    # Plain lines (no rich wrapping): origins are long paths that users copy from the output.
    typer.echo(f"source: {s.description}")
    if s.sharding:
        typer.echo(f"sharding: {s.sharding}")
    typer.echo(f"documents: {s.documents:,} (chars: mean {s.mean_chars:,.0f}, max {s.max_chars:,})")
    typer.echo(f"rejected: {s.rejected:,}")
    for kind, n in s.reasons.most_common():
        typer.echo(f"  {n:>8,}  {kind}   e.g. {s.examples[kind]}")


def register(app: typer.Typer) -> None:
    app.add_typer(source_app, name="source")
