"""`rephraser decontam`: report (and optionally remove) benchmark n-gram overlap in a dataset."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from rephraser.errors import RephraserError


def register(app: typer.Typer) -> None:
    @app.command()
    def decontam(
        dataset: str = typer.Argument(..., help="rephraser output folder, Parquet file/folder, or JSONL file (local or URL)"),
        ngram: int = typer.Option(12, min=3, help="words per n-gram"),
        column: str = typer.Option(None, help="text column to check [default: generation if the data has it, else text]"),
        filter_dir: str = typer.Option(None, "--filter", help="write the dataset without contaminated rows here (local or URL)"),
        report: str = typer.Option(None, help="write the JSON report here (local or URL)"),
        tasks: str = typer.Option(None, help="comma-separated suite tasks (default: all)"),
        max_items: int = typer.Option(1000, min=1, help="items per task indexed (the full profile's selection)"),
        seed: int = typer.Option(1234, help="the evaluation seed whose items are indexed"),
    ) -> None:
        """Find word n-grams shared by a dataset and the benchmark suite's items."""
        from rephraser import storage
        from rephraser.postprocess.decontam import (
            build_index,
            dataset_files,
            default_column,
            filter_dataset,
            scan_dataset,
        )

        console = Console()
        if column is not None and column.strip() == "":
            raise RephraserError("--column must name a text column")
        _, files = dataset_files(dataset)  # fail on a bad path before the (slower) index is built
        column = column or default_column(files)
        names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        index = build_index(ngram, names, max_items=max_items, seed=seed)
        result, flags = scan_dataset(dataset, index, column)
        table = Table("task", "contaminated docs", "matching n-grams", "items indexed", "items < n words")
        for task, r in result["tasks"].items():
            table.add_row(task, str(r["contaminated_docs"]), str(r["matching_ngrams"]), str(r["items_indexed"]),
                          str(r["items_too_short"]))
        for task, reason in result["tasks_missing"].items():
            table.add_row(task, "missing", reason, "-", "-")
        console.print(table)
        console.print(f"{result['docs_contaminated']} of {result['docs_scanned']} documents share a "
                      f"{ngram}-gram with the suite ({result['docs_without_text']} without text in {column!r})")
        if filter_dir is not None:
            result["filter"] = {"out_dir": str(filter_dir), **filter_dataset(dataset, flags, filter_dir)}
            console.print(f"wrote {result['filter']['rows_kept']} rows to {filter_dir} "
                          f"({result['filter']['rows_removed']} removed)")
        if report is not None:
            storage.write_json(report, result)
            console.print(f"wrote {report}")
