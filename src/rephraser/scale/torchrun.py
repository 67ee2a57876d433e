"""Launching `rephraser train` as a distributed job: the torchrun command line, and the Slurm batch
script of one training job on one or more nodes.

One node:     torchrun --standalone --nproc-per-node 8 -m rephraser.cli train --config train.yaml
Many nodes:   `srun` starts one torchrun per node; they meet at a c10d rendezvous on the allocation's
              first node (MASTER_ADDR, from `scontrol show hostnames "$SLURM_JOB_NODELIST"`), keyed by
              the Slurm job id, and torchrun starts `nproc_per_node` training ranks on each.

Training resumes from its newest checkpoint by default, so both torchrun's elastic restarts
(`max_restarts`) and a Slurm requeue continue where the job stopped rather than starting over.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_write_text
from rephraser.errors import ConfigError
from rephraser.scale.slurm import render_script
from rephraser.train.trainer import accumulation

_TIME_RE = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass
class TrainJob:
    nodes: int = 1
    nproc_per_node: int = 1  # training ranks per node: its GPUs, or CPU processes (gloo)
    gpus: bool = True  # request nproc_per_node GPUs per node
    partition: str | None = None
    account: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int | None = None  # CPUs for the whole node's torchrun (all its ranks)
    mem: str | None = None
    job_name: str = "rephraser-train"
    log_dir: str = "slurm_logs"
    setup: list[str] = field(default_factory=list)  # shell lines run first, e.g. "source .venv/bin/activate"
    python: str = "python"  # the interpreter that has rephraser and torch on the nodes
    rdzv_port: int = 29500
    max_restarts: int = 0  # torchrun elastic restarts of the whole worker group after a rank fails
    extra_sbatch: list[str] = field(default_factory=list)  # raw "--key=value" directives

    @property
    def world(self) -> int:
        return self.nodes * self.nproc_per_node

    def validate(self) -> None:
        if self.nodes < 1 or self.nproc_per_node < 1:
            raise ConfigError(f"nodes ({self.nodes}) and processes per node ({self.nproc_per_node}) must be >= 1")
        if not _TIME_RE.match(self.time):
            raise ConfigError(f"time {self.time!r} is not a Slurm time (e.g. 24:00:00 or 2-00:00:00)")
        if not 0 < self.rdzv_port < 65536:
            raise ConfigError(f"rendezvous port {self.rdzv_port} is not a TCP port")
        if self.max_restarts < 0:
            raise ConfigError("max_restarts must be >= 0")


def torchrun_argv(train_args: list[str], *, nproc_per_node: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                  rdzv_id: str | None = None, max_restarts: int = 0, python: str | None = None) -> list[str]:
    """The torchrun command that runs `rephraser <train_args>` (e.g. ["train", "--config", "t.yaml"]) on
    nproc_per_node ranks per node. Without rdzv_endpoint it is a single-node `--standalone` job; values
    may be shell references such as "$MASTER_ADDR:29500" (see shell_join)."""
    launcher = [*shlex.split(python), "-m", "torch.distributed.run"] if python else ["torchrun"]
    if rdzv_endpoint is None:
        if nnodes != 1:
            raise ConfigError("a job on several nodes needs a rendezvous endpoint (host:port)")
        where = ["--standalone"]
    else:
        where = ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint,
                 "--rdzv-id", rdzv_id or "rephraser"]
    return [*launcher, *where, "--nproc-per-node", str(nproc_per_node), "--max-restarts", str(max_restarts),
            "-m", "rephraser.cli", *train_args]


def shell_join(argv: list[str]) -> str:
    """Quote for bash, leaving $VARIABLES in an argument to expand (inside double quotes)."""
    out = []
    for a in argv:
        if "$" in a:
            out.append('"' + re.sub(r'(["\\`])', r"\\\1", a) + '"')
        else:
            out.append(shlex.quote(a))
    return " ".join(out)


def slurm_launch_lines(train_args: list[str], job: TrainJob) -> list[str]:
    """Bash lines that run one training job on the current Slurm allocation (its body, after setup)."""
    argv = torchrun_argv(train_args, nproc_per_node=job.nproc_per_node, nnodes=job.nodes,
                         rdzv_endpoint=f"${{MASTER_ADDR}}:{job.rdzv_port}", rdzv_id="${SLURM_JOB_ID}",
                         max_restarts=job.max_restarts, python=job.python)
    return [
        '# the rendezvous runs on the first node of the allocation',
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "export MASTER_ADDR",
        f'echo "rephraser train: {job.nodes} node(s) x {job.nproc_per_node} rank(s), rendezvous '
        f'${{MASTER_ADDR}}:{job.rdzv_port} (Slurm restart ${{SLURM_RESTART_COUNT:-0}})"',
        # one torchrun per node; if any node fails, stop the others instead of letting them wait
        f"srun --nodes={job.nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 {shell_join(argv)}",
    ]


def render_train_script(train_config: str | Path, job: TrainJob, workdir: str | Path) -> str:
    """The sbatch script of one training job: `rephraser train --config train_config` on job.world ranks."""
    job.validate()
    work = Path(workdir)
    logs = Path(job.log_dir) if Path(job.log_dir).is_absolute() else work / job.log_dir
    # absolute paths: Slurm resolves --output from wherever sbatch is called
    d = [f"--job-name={job.job_name}", f"--chdir={work}", f"--output={logs}/%x-%j.out", f"--time={job.time}",
         f"--nodes={job.nodes}", "--ntasks-per-node=1", "--requeue", "--open-mode=append"]
    if job.gpus:
        d.append(f"--gpus-per-node={job.nproc_per_node}")
    if job.cpus_per_task:
        d.append(f"--cpus-per-task={job.cpus_per_task}")
    if job.mem:
        d.append(f"--mem={job.mem}")
    if job.partition:
        d.append(f"--partition={job.partition}")
    if job.account:
        d.append(f"--account={job.account}")
    d += job.extra_sbatch
    return render_script(d, work, job.setup, slurm_launch_lines(["train", "--config", str(train_config)], job))


def write_train_script(train_config: str | Path, job: TrainJob, script: str | Path, workdir: str | Path | None = None,
                       cfg: Any = None) -> Path:
    """Check the config against the job's world size (when given), then write the sbatch script."""
    if cfg is not None:
        accumulation(cfg, job.world)
    work = Path(workdir or Path.cwd()).resolve()
    (work / job.log_dir).mkdir(parents=True, exist_ok=True)  # Slurm does not create log folders (absolute kept)
    path = Path(script)
    atomic_write_text(path, render_train_script(Path(train_config).resolve(), job, work))
    path.chmod(0o755)
    return path
