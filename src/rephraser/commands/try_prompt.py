"""`rephraser try PROMPT`: rephrase a handful of documents and read each source beside its output.

The loop of designing a prompt: edit it, run it on a few documents, read, repeat. The documents are a
random sample of the source (its seed printed, `--seed` takes them again) or, with `--offset`, the next N
in source order. Each document is listed as its calls finish. `--watch` re-runs whenever the prompt file
changes; unchanged calls come back from the request cache for free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("try")
    def try_prompt(
        prompt: str = typer.Argument(..., help="library prompt name or path to a prompt YAML file"),
        docs: int = typer.Option(5, "--sample", "--docs", "-n", min=1,
                                 help="documents to rephrase: a random sample of the source (see --seed, --offset)"),
        offset: int | None = typer.Option(None, "--offset", min=0,
                                          help="take the documents from this position on, in source order, "
                                               "instead of a random sample (--offset 0: the first N)"),
        source: str | None = typer.Option(None, "--source", "-i", help="input file/folder; default: embedded wiki"),
        text_column: str | None = typer.Option(None, help="column holding the document text"),
        config: Path | None = typer.Option(None, "--config", "-c", help="YAML RunConfig for engine, sampling, postprocess"),
        engine: str | None = typer.Option(None, help="llamacpp | openai | vllm"),
        model: str | None = typer.Option(None, "--model", "-m", help="model alias, GGUF path or served model name"),
        base_url: str | None = typer.Option(None, help="OpenAI-compatible endpoint (engine openai)"),
        api_key_env: str | None = typer.Option(None, help="environment variable holding the API key"),
        n_ctx: int | None = typer.Option(None, help="context window (tokens)"),
        max_tokens: int | None = typer.Option(None, help="max new tokens per call"),
        temperature: float | None = typer.Option(None),
        seed: int | None = typer.Option(None, help="seeds the sample of documents and the model's sampling "
                                        "[default: drawn at random and printed]"),
        workdir: Path = typer.Option(Path("out/try"), "--workdir", help="where trial folders and the page go"),
        html: Path | None = typer.Option(None, "--html", help="page to write [default: WORKDIR/<prompt>.html]"),
        watch: bool = typer.Option(False, "--watch", help="re-run whenever the prompt file changes (Ctrl-C stops)"),
        max_runs: int | None = typer.Option(None, "--max-runs", min=1, help="with --watch: stop after this many runs"),
        poll_s: float = typer.Option(0.5, "--poll", min=0.05, help="with --watch: seconds between looks at the file"),
        max_chars: int = typer.Option(1500, "--max-chars", min=100, help="longest text shown per side in the terminal"),
    ) -> None:
        """Rephrase a few documents with PROMPT; show source and output side by side, with each verdict."""
        from rich.markup import escape

        from rephraser.commands._console import console as out_console
        from rephraser.commands._console import is_plain
        from rephraser.commands.run import build_config
        from rephraser.errors import RephraserError
        from rephraser.report.trial import new_seed, prompt_file, run_trial, watch_changes
        from rephraser.report.trial_view import LiveCalls, print_trial, write_trial_html

        overrides: dict[str, Any] = {
            "source.path": source, "source.text_column": text_column, "engine.kind": engine, "engine.model": model,
            "engine.base_url": base_url, "engine.api_key_env": api_key_env, "engine.n_ctx": n_ctx,
            "sampling.max_tokens": max_tokens, "sampling.temperature": temperature,
        }
        # One seed makes a trial reproducible: it picks the documents and seeds the model's sampling. Drawn
        # once per command (so --watch re-runs the same documents) and printed, so it can be given again.
        if seed is None and offset is None:
            seed = new_seed()
        overrides["sampling.seed"] = seed
        base = build_config(config, overrides)
        console = out_console()
        watched = prompt_file(prompt) if watch else None

        def once() -> None:
            live = LiveCalls(console, docs)
            with console.status(f"rephrasing {docs} document(s) with {prompt} ({base.engine.kind}: {base.engine.model})"):
                trial = run_trial(prompt, base, docs=docs, workdir=workdir, seed=seed, offset=offset,
                                  on_rows=live.finished)
            if trial.selection is not None:
                console.print(f"documents: {trial.selection.describe()}", highlight=False)
            print_trial(trial, console, max_chars=max_chars, plain=is_plain(console))
            page = write_trial_html(trial, html or workdir / f"{trial.prompt.name}.html", refresh_s=2 if watch else None)
            console.print(f"page: {page}", highlight=False)

        if watched is None:
            once()
            return
        runs = 0
        try:
            for _content in watch_changes(watched, poll_s=poll_s):
                try:
                    once()
                except RephraserError as e:
                    if runs == 0:
                        raise  # nothing ran yet: the usual one-line error
                    console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)  # e.g. a half-edited prompt
                runs += 1
                if max_runs is not None and runs >= max_runs:
                    return
                console.print(f"watching {watched} — save it to run again (Ctrl-C stops)", highlight=False)
        except KeyboardInterrupt:
            console.print(f"stopped watching after {runs} run(s)", highlight=False)
