"""`rephraser slurm`: write an sbatch job array (one shard per task) plus follow-up jobs; check a run's
shards; resubmit the unfinished ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import typer

from rephraser import storage
from rephraser.errors import ConfigError, RephraserError


def register(app: typer.Typer) -> None:
    @app.command("slurm")
    def slurm(
        config: Path = typer.Option(..., "--config", help="run config YAML (its output.dir is shared by all shards)"),
        array: int = typer.Option(..., "--array", min=1, help="number of shards = array tasks"),
        partition: str = typer.Option(None, "--partition", help="Slurm partition"),
        gpus_per_task: int = typer.Option(
            None, "--gpus-per-task", min=0, help="GPUs per array task [default: what the engine needs, e.g. 0 for "
            "llamacpp/openai, tensor_parallel_size for vllm]"),
        cpus_per_task: int = typer.Option(None, "--cpus-per-task", min=1),
        mem: str = typer.Option(None, "--mem", help='memory per task, e.g. "64G"'),
        time: str = typer.Option("24:00:00", "--time", help="time limit per task"),
        job_name: str = typer.Option("rephraser", "--job-name"),
        account: str = typer.Option(None, "--account"),
        max_running: int = typer.Option(None, "--max-running", help="at most this many tasks at once (%k)"),
        setup: list[str] = typer.Option([], "--setup", help='shell line run first on the node (repeatable)'),
        rephraser_cmd: str = typer.Option("rephraser", "--rephraser", help="how nodes call the CLI"),
        output_script: Path = typer.Option(Path("job.sbatch"), "--output-script", help="where to write the script"),
        log_dir: str = typer.Option("slurm_logs", "--log-dir", help="log folder (relative to this folder unless absolute)"),
        followups: bool = typer.Option(False, "--followups", help="also write a check + stats + card job after the array"),
        retries: int = typer.Option(2, "--retries", min=0, help="reruns of a crashed shard inside its allocation"),
        resubmit_failed: bool = typer.Option(
            False, "--resubmit-failed", help="write (and with --submit, submit) an array of only the shards whose "
            "output is not complete, plus the follow-up"),
        submit: bool = typer.Option(False, "--submit", help="run the submit script now (needs sbatch)"),
        check: bool = typer.Option(False, "--check", help="report which shards are complete (exit 1 if any is not); "
                                   "merges the shards' statistics into OUT/stats.json"),
    ) -> None:
        """Write a Slurm job array whose task i runs `rephraser run --shard i/N` (requeue-safe, retried)."""
        from rich.console import Console

        from rephraser.config import load_yaml
        from rephraser.run_folder import shard_status
        from rephraser.scale.ray import engine_gpus
        from rephraser.scale.slurm import SlurmOptions, write_scripts

        cfg = load_yaml(config)
        console = Console()
        out_dir = storage.as_location(cfg.output.dir)  # a URL stays a URL in the scripts (s3://…)
        out_dir = out_dir.resolve() if isinstance(out_dir, Path) else out_dir
        if check:
            _check(console, out_dir, array)
            return
        gpus = engine_gpus(cfg) if gpus_per_task is None else gpus_per_task
        tasks = None
        if resubmit_failed:
            tasks = [s.index for s in shard_status(out_dir, array) if s.state != "complete"]
            console.print(f"{array - len(tasks)} of {array} shards complete; "
                          + (f"resubmitting {len(tasks)}: {', '.join(map(str, tasks))}" if tasks else "nothing to rerun"))
            if not tasks and not followups:
                return
        opts = SlurmOptions(
            array=array, partition=partition, gpus_per_task=gpus, cpus_per_task=cpus_per_task,
            mem=mem, time=time, job_name=job_name, account=account, max_running=max_running,
            setup=list(setup), rephraser=rephraser_cmd, log_dir=log_dir, retries=retries, tasks=tasks,
        )
        try:
            opts.validate()
        except ValueError as e:
            raise ConfigError(str(e)) from None
        written = write_scripts(config.resolve(), out_dir, opts, output_script, followups)
        if written.array:
            console.print(f"array script   {written.array}  ({len(tasks) if tasks else array} tasks, shard i/{array} "
                          f"each, {gpus} GPU(s) per task, up to {retries + 1} attempts)")
        if written.followup:
            console.print(f"follow-up job  {written.followup}  (check + stats + card after the array succeeds)")
        for note in _notes(cfg, gpus, gpus_per_task is None):
            console.print(f"[yellow]note:[/] {note}")
        if not submit:
            console.print(f"submit with    bash {written.submit}")
            return
        res = subprocess.run(["bash", str(written.submit)], capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise RephraserError(f"submitting failed (bash {written.submit}): {last}")
        console.print(res.stdout.rstrip(), highlight=False)


def _check(console, out_dir: storage.Location, count: int) -> None:  # noqa: ANN001 - rich Console
    from rephraser.generate.stats import merge_shard_stats
    from rephraser.run_folder import shard_status

    status = shard_status(out_dir, count)
    todo = [s for s in status if s.state != "complete"]
    if not todo:
        merged = merge_shard_stats(out_dir)
        rows = merged.get("rows", {})
        console.print(f"all {count} shards of {out_dir} complete: "
                      f"{', '.join(f'{k} {v}' for k, v in rows.items() if k != 'missing')}", highlight=False)
        return
    console.print(f"{len(todo)} of {count} shards of {out_dir} are not complete: "
                  + ", ".join(f"{s.index} ({s.state})" for s in todo), highlight=False)
    console.print("rerun them with the same `rephraser slurm` options plus --resubmit-failed --submit")
    raise typer.Exit(1)


def _notes(cfg, gpus: int, derived: bool) -> list[str]:  # noqa: ANN001 - RunConfig, imported lazily
    notes = []
    if not storage.is_remote(cfg.output.dir) and not Path(cfg.output.dir).is_absolute():
        notes.append(f"output.dir {cfg.output.dir!r} is relative: tasks resolve it from this folder")
    from rephraser.engines import engine_spec

    e = cfg.engine
    spec = engine_spec(e.kind)
    if spec.device == "server" and e.server is None and e.base_url and ("127.0.0.1" in e.base_url or "localhost" in e.base_url):
        notes.append("engine.base_url points at localhost: every node needs its own server (or use engine.server)")
    if spec.device == "server" and e.server is not None and derived:
        notes.append("engine.server starts a server on each node: pass --gpus-per-task if it needs GPUs")
    from rephraser.scale.ray import engine_gpus

    need = engine_gpus(cfg)
    if gpus < need:
        notes.append(f"engine.kind={e.kind} needs {need} GPU(s) per replica but --gpus-per-task is {gpus}")
    return notes
