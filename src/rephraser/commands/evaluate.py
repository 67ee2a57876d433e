"""`rephraser evaluate`: score a proxy checkpoint or a local HF model on the benchmark suite."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rephraser.errors import RephraserError
from rephraser.report.numbers import sig, x100


def _list_tasks(console: Console, definitions: str) -> None:
    from rephraser.evaluate.tasks import TASKS
    from rephraser.evaluate.tasks.study import STUDY_TASKS

    if definitions == "lighteval":
        table = Table("task", "category", "study's lighteval task", "real dataset (--datasets)")
        for t in STUDY_TASKS.values():
            table.add_row(t.key, t.category, t.lighteval, f"{t.repo}" + (f" [{t.subset}]" if t.subset else "")
                          + f" {t.eval_split}")
    else:
        table = Table("task", "category", "description")
        for spec in TASKS.values():
            table.add_row(spec.name, spec.category, spec.description)
    console.print(table)


def _print_results(console: Console, results: dict) -> None:
    metric = results["metric"]
    table = Table("task", "category", "items", metric, "± stderr", "acc", "acc_norm", "acc_norm_token")
    for task, res in results["results"].items():
        fmt = lambda k, r=res: sig(r.get(k), 3, dash="-")  # noqa: E731
        table.add_row(task, results["task_info"][task]["category"], str(int(res["n_items"])),
                      fmt(metric), fmt(f"{metric}_stderr"), fmt("acc"), fmt("acc_norm"), fmt("acc_norm_token"))
    for task, reason in results["tasks_missing"].items():
        table.add_row(task, "-", "-", "missing", reason, "-", "-", "-")
    console.print(table)
    cats = "  ".join(f"{c}={sig(v, 3)}" for c, v in results["categories"].items())
    console.print(f"categories: {cats}")
    macro, micro = results["macro"], results["micro"]
    if macro is not None:
        console.print(f"[bold]macro {sig(macro, 3)} (×100: {sig(x100(macro), 3)})[/bold]  micro {sig(micro, 3)}  "
                      f"(metric {results['metric']}, {results['config_general'].get('dtype', 'float32')})")
    if results["categories_missing"]:
        console.print(f"[yellow]categories without any scored task: {', '.join(results['categories_missing'])}[/yellow]")


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        model_dir: str = typer.Argument(None, help="proxy checkpoint folder or local Hugging Face model folder"),
        profile: str = typer.Option("quick", help="quick (30 items/task, CI), full (≤1000 items/task), or study "
                                                  "(≤1000 items, lighteval definitions with the |3|1 few-shot "
                                                  "truncation, bf16 where the device supports it)"),
        tasks: str = typer.Option(None, help="comma-separated task names (default: all 12)"),
        output: Path = typer.Option(None, help="results JSON path (details JSONL is written beside it)"),
        hf: bool = typer.Option(False, "--hf", help="treat MODEL_DIR as a Hugging Face model (default: auto-detect)"),
        max_items: int = typer.Option(None, min=1, help="override the profile's items per task"),
        num_fewshot: int = typer.Option(3, min=0, help="solved examples before each item"),
        seed: int = typer.Option(1234, help="selects the item subset and the shots"),
        device: str = typer.Option(None, help="torch device (default: cuda if available, else cpu)"),
        definitions: str = typer.Option(
            None, help="task definitions: rephraser (our offline layouts; the default) or lighteval (the study's "
                       "lighteval 0.10 tasks: templates, every gold, sampling, tokenization; the study profile's "
                       "default)"),
        datasets: str = typer.Option(
            None, help="with --definitions lighteval: read the study's real datasets from a folder (one "
                       "sub-folder per task), 'hub', or a YAML mapping task -> path | hub | hub:owner/name "
                       "(opt-in; tasks without a source are reported missing)"),
        prob_variant: str = typer.Option(
            "gold", help="which prob_norm_token feeds macro/micro: gold (max over golds; lighteval <= 0.10, "
                         "the study) or all (max over every choice; lighteval 0.11-0.13)"),
        dtype: str = typer.Option(
            "auto", help="weights while scoring: float32, bfloat16, or auto (bfloat16 for --profile study on a "
                         "device with bf16, i.e. CUDA; float32 otherwise, CPU included)"),
        truncate_fewshot: bool = typer.Option(
            None, "--truncate-fewshot/--no-truncate-fewshot",
            help="drop shots from the end of an item until it fits the model's window (the study's |3|1; "
                 "default: on with --definitions lighteval)"),
        list_tasks: bool = typer.Option(False, "--list-tasks", help="list the suite's tasks and exit"),
    ) -> None:
        """Score a model on the 12-task cloze suite (prob_norm_token; macro over 6 categories)."""
        from rephraser.evaluate.suite import check_options, default_definitions

        console = Console()
        definitions = definitions or default_definitions(profile)
        names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        # every option is checked here, before a model (possibly gigabytes) is loaded
        check_options(profile=profile, tasks=names, definitions=definitions, datasets=datasets,
                      prob_variant=prob_variant, dtype=dtype)
        if list_tasks:
            _list_tasks(console, definitions)
            return
        if model_dir is None:
            raise RephraserError("give a MODEL_DIR to evaluate (or --list-tasks)")
        from rephraser.evaluate.scoring_models import detect_kind, load_scoring_model, resolve_dtype
        from rephraser.evaluate.suite import run_suite, write_results
        from rephraser.storage import local_only

        model_dir = local_only(model_dir, "model folder", "the model is loaded from files on disk")
        kind = "hf" if hf else detect_kind(model_dir)
        model = load_scoring_model(model_dir, kind=kind, device=device, dtype=resolve_dtype(dtype, profile, device))
        results, details = run_suite(
            model, profile=profile, tasks=names, seed=seed, num_fewshot=num_fewshot, max_items=max_items,
            progress=lambda msg: console.print(f"  {msg}", highlight=False), definitions=definitions,
            datasets=datasets, prob_variant=prob_variant, truncate_fewshot=truncate_fewshot,
        )
        _print_results(console, results)
        suffix = "" if definitions == "rephraser" else f"-{definitions}"
        out = output or Path(model_dir) / f"eval-{profile}{suffix}.json"
        details_file = write_results(results, details, out)
        console.print(f"wrote {out} and {details_file}")
