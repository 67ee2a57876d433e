"""`rephraser slurm`: write an sbatch job array (one shard per task) plus follow-up jobs."""

from __future__ import annotations

from pathlib import Path

import typer

from rephraser.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("slurm")
    def slurm(
        config: Path = typer.Option(..., "--config", help="run config YAML (its output.dir is shared by all shards)"),
        array: int = typer.Option(..., "--array", min=1, help="number of shards = array tasks"),
        partition: str = typer.Option(None, "--partition", help="Slurm partition"),
        gpus_per_task: int = typer.Option(1, "--gpus-per-task", min=0, help="GPUs per array task (0 for CPU)"),
        cpus_per_task: int = typer.Option(None, "--cpus-per-task", min=1),
        mem: str = typer.Option(None, "--mem", help='memory per task, e.g. "64G"'),
        time: str = typer.Option("24:00:00", "--time", help="time limit per task"),
        job_name: str = typer.Option("rephraser", "--job-name"),
        account: str = typer.Option(None, "--account"),
        max_running: int = typer.Option(None, "--max-running", help="at most this many tasks at once (%k)"),
        setup: list[str] = typer.Option([], "--setup", help='shell line run first on the node (repeatable)'),
        rephraser_cmd: str = typer.Option("rephraser", "--rephraser", help="how nodes call the CLI"),
        output_script: Path = typer.Option(Path("job.sbatch"), "--output-script", help="where to write the script"),
        followups: bool = typer.Option(False, "--followups", help="also write a stats + dataset-card job after the array"),
    ) -> None:
        """Write a Slurm job array whose task i runs `rephraser run --shard i/N` (requeue-safe)."""
        from rich.console import Console

        from rephraser.config import load_yaml
        from rephraser.scale.slurm import SlurmOptions, write_scripts

        cfg = load_yaml(config)
        opts = SlurmOptions(
            array=array, partition=partition, gpus_per_task=gpus_per_task, cpus_per_task=cpus_per_task,
            mem=mem, time=time, job_name=job_name, account=account, max_running=max_running,
            setup=list(setup), rephraser=rephraser_cmd,
        )
        try:
            opts.validate()
        except ValueError as e:
            raise ConfigError(str(e)) from None
        written = write_scripts(config.resolve(), cfg.output.dir, opts, output_script, followups)
        console = Console()
        console.print(f"array script   {written.array}  ({array} tasks, shard i/{array} each)")
        if written.followup:
            console.print(f"follow-up job  {written.followup}  (stats + card after the array succeeds)")
        console.print(f"submit with    bash {written.submit}")
        for note in _notes(cfg, gpus_per_task):
            console.print(f"[yellow]note:[/] {note}")


def _notes(cfg, gpus_per_task: int) -> list[str]:  # noqa: ANN001 - RunConfig, imported lazily
    notes = []
    from rephraser.storage import is_remote

    if not is_remote(cfg.output.dir) and not Path(cfg.output.dir).is_absolute():
        notes.append(f"output.dir {cfg.output.dir!r} is relative: tasks resolve it from this folder")
    e = cfg.engine
    if e.kind == "openai" and e.server is None and e.base_url and ("127.0.0.1" in e.base_url or "localhost" in e.base_url):
        notes.append("engine.base_url points at localhost: every node needs its own server (or use engine.server)")
    if e.kind == "vllm" and gpus_per_task == 0:
        notes.append("engine.kind=vllm needs GPUs: set --gpus-per-task")
    return notes
