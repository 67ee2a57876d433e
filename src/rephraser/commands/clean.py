"""`rephraser clean OUT_DIR`: re-apply (possibly new) prompt contracts into a NEW output folder."""

from __future__ import annotations

from pathlib import Path

import typer

from rephraser.errors import ConfigError


def _parse_prompt_files(values: list[str]) -> dict:
    from rephraser.prompts.spec import load_prompt_file

    out = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--prompt-file expects NAME=PATH, got {v!r}")
        if name in out:
            raise ConfigError(f"--prompt-file given twice for {name!r}")
        out[name] = load_prompt_file(path)
    return out


def register(app: typer.Typer) -> None:
    @app.command("clean")
    def clean(
        out_dir: str = typer.Argument(..., help="a run output folder (local or URL); it is only read"),
        prompt_file: list[str] = typer.Option(
            [], "--prompt-file", help="NAME=PATH: judge prompt NAME's rows with this prompt file's contract"
        ),
        dedup: str = typer.Option("off", "--dedup", help="off | report | drop (drop moves duplicates to rejected/)"),
        threshold: float = typer.Option(0.8, "--threshold", min=0.01, max=1.0, help="near-duplicate Jaccard"),
        output: str | None = typer.Option(None, "--output", "-o", help="the NEW folder (default: OUT_DIR-clean)"),
        allow_length_finish: bool | None = typer.Option(
            None, "--allow-length-finish/--reject-length-finish",
            help="accept outputs cut by max_tokens (default: as the run's config.yaml, else each prompt's contract)",
        ),
    ) -> None:
        """Re-judge every row's raw_generation (ok and rejected rows) under the prompts' contracts and
        write data/, rejected/, dead_letter/ to a new folder, with a summary of rows moved per rule."""
        from rich.markup import escape
        from rich.table import Table

        from rephraser.commands._console import console as out_console
        from rephraser.postprocess.reapply import reapply_contracts

        if dedup not in ("off", "report", "drop"):
            raise ConfigError(f"--dedup must be off, report or drop (got {dedup!r})")
        overrides = _parse_prompt_files(prompt_file)
        from rephraser import storage

        src = storage.as_location(out_dir)
        src = src.resolve() if isinstance(src, Path) else src
        dest = output if output is not None else src.with_name(src.name + "-clean")
        summary = reapply_contracts(
            out_dir, dest, overrides=overrides, dedup=dedup, threshold=threshold,  # type: ignore[arg-type]
            allow_length_finish=allow_length_finish,
        )

        console = out_console()
        t = Table(title=escape(f"{out_dir} -> {dest}"))
        for col in ("from", "to", "rule", "rows"):
            t.add_column(col, justify="right" if col == "rows" else "left")
        for (a, b, rule), n in sorted(summary.transitions.items()):
            t.add_row(a, b, escape(rule), str(n))
        if summary.transitions:
            console.print(t)
        else:
            console.print("no row changed status or reason")
        ins = ", ".join(f"{k} {summary.rows_in[k]}" for k in ("ok", "rejected", "failed"))
        outs = ", ".join(f"{k} {summary.rows_out[k]}" for k in ("ok", "rejected", "failed"))
        console.print(f"rows in: {ins}; rows out: {outs}; ok texts re-cleaned: {summary.text_changed}")
        if summary.not_rejudged:
            console.print(f"{summary.not_rejudged} multi-chunk rows carried over unchanged (judged per chunk by the run)")
        if summary.dedup is not None:
            d = summary.dedup
            verb = "moved to rejected/" if dedup == "drop" else "reported only"
            console.print(escape(f"dedup: {d.exact_dupes} exact + {d.near_dupes} near duplicates in "
                                 f"{len(d.clusters)} clusters ({verb}); see {dest / 'clean.json'}"))
