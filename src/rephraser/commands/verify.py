"""`rephraser verify OUT_DIR`: check that a run folder is whole (rephraser/verify.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify(
        out_dir: str = typer.Argument(..., help="a run output folder, local or URL"),
        checksums: bool = typer.Option(False, "--checksums", help="also read every byte and compare the SHA-256 "
                                       "recorded at commit (default: sizes and row counts only)"),
        files: bool = typer.Option(False, "--files", help="print the committed data files, one per line (the "
                                   "list to give `datasets.load_dataset('parquet', data_files=...)`)"),
    ) -> None:
        """Check every committed file (exists, size, rows, optionally checksum), duplicates and conservation."""
        from rephraser.verify import verify_folder

        r = verify_folder(out_dir, checksums=checksums)
        if files:
            for rel in r.data_files:
                typer.echo(str(r.path / rel))
        else:
            for p in r.problems:
                typer.echo(f"problem: {p}", err=True)
            what = "sizes, row counts and checksums" if checksums else "sizes and row counts (--checksums for every byte)"
            verdict = "OK" if r.ok else f"{len(r.problems)} problem(s)"
            if r.unmanaged:
                what, verdict = "no manifests (a `rephraser clean` copy?)", "nothing recorded to check against"
            typer.echo(f"verify {r.path}: {r.files} committed files, {r.rows} rows, {r.units} units; {what}: {verdict}")
            if r.stray:
                typer.echo(f"{len(r.stray)} stray file(s) no manifest names (e.g. {r.stray[0]}): no reader takes "
                           "them and the next start of their shard deletes them — do not glob data/*/*.parquet "
                           "before then; `rephraser verify OUT --files` lists the committed ones")
        if not r.ok:
            raise typer.Exit(1)
