"""`rephraser slurm-train`: write the sbatch script of one distributed training job (srun + torchrun)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("slurm-train")
    def slurm_train(
        config: Path = typer.Option(..., "--config", help="TrainConfig YAML (data and output on a shared filesystem)"),
        nodes: int = typer.Option(1, "--nodes", min=1, help="nodes of the job"),
        nproc_per_node: int = typer.Option(8, "--nproc-per-node", min=1, help="training ranks per node (its GPUs)"),
        cpu: bool = typer.Option(False, "--cpu", help="ranks on CPU cores (gloo): request no GPUs"),
        partition: str = typer.Option(None, "--partition"),
        account: str = typer.Option(None, "--account"),
        time: str = typer.Option("24:00:00", "--time", help="time limit"),
        cpus_per_task: int = typer.Option(None, "--cpus-per-task", min=1, help="CPUs per node for its ranks"),
        mem: str = typer.Option(None, "--mem", help='memory per node, e.g. "512G"'),
        job_name: str = typer.Option("rephraser-train", "--job-name"),
        setup: list[str] = typer.Option([], "--setup", help="shell line run first on each node (repeatable)"),
        python: str = typer.Option("python", "--python", help="interpreter with rephraser + torch on the nodes"),
        rdzv_port: int = typer.Option(29500, "--rdzv-port", help="rendezvous port on the first node"),
        max_restarts: int = typer.Option(0, "--max-restarts", min=0, help="torchrun restarts after a rank fails"),
        output_script: Path = typer.Option(Path("train.sbatch"), "--output-script", help="where to write the script"),
    ) -> None:
        """Write a Slurm script running `rephraser train --config CONFIG` on NODES x NPROC ranks (resumable)."""
        from rephraser.config import load_yaml
        from rephraser.scale.torchrun import TrainJob, write_train_script
        from rephraser.train.trainer import TrainConfig

        cfg = load_yaml(config, TrainConfig)
        job = TrainJob(nodes=nodes, nproc_per_node=nproc_per_node, gpus=not cpu, partition=partition, account=account,
                       time=time, cpus_per_task=cpus_per_task, mem=mem, job_name=job_name, setup=list(setup),
                       python=python, rdzv_port=rdzv_port, max_restarts=max_restarts)
        job.validate()
        script = write_train_script(config, job, output_script, cfg=cfg)
        per_rank = cfg.batch_size // job.world
        micro = cfg.micro_batch_size or per_rank
        typer.echo(f"script  {script}  ({nodes} node(s) x {nproc_per_node} rank(s) = {job.world}; "
                   f"{per_rank} sequences per rank and step in micro-batches of {micro})")
        typer.echo(f"submit  sbatch {script}")
        if not Path(cfg.output).is_absolute() or not Path(cfg.data).is_absolute():
            typer.echo("note: data/output are relative paths: every node resolves them from the script's folder")
