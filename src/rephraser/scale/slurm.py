"""Slurm job arrays over shards: one array task = one shard = one `rephraser run --shard i/N`.

A shard's run is resumable and exactly-once (manifests + request cache), so a preempted or failed task
can simply be run again: the array script asks Slurm to requeue (`--requeue`) and appends to its log
(`--open-mode=append`). Follow-up jobs (stats, dataset card) wait for the whole array with
`--dependency=afterok:<array job id>`; a small submit script wires the ids together because the id is
only known after `sbatch` returns.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ARRAY_ENV = "SLURM_ARRAY_TASK_ID"
_TIME_RE = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass
class SlurmOptions:
    array: int  # number of shards = array tasks
    partition: str | None = None
    gpus_per_task: int = 1
    cpus_per_task: int | None = None
    mem: str | None = None  # e.g. "64G"
    time: str = "24:00:00"
    job_name: str = "rephraser"
    account: str | None = None
    max_running: int | None = None  # "%k" throttle: at most k array tasks at once
    log_dir: str = "slurm_logs"
    setup: list[str] = field(default_factory=list)  # shell lines run first, e.g. "source .venv/bin/activate"
    rephraser: str = "rephraser"  # how to call the CLI on the nodes
    extra_sbatch: list[str] = field(default_factory=list)  # raw "--key=value" directives

    def validate(self) -> None:
        if self.array < 1:
            raise ValueError(f"--array must be >= 1, got {self.array}")
        if self.gpus_per_task < 0:
            raise ValueError("--gpus-per-task must be >= 0")
        if not _TIME_RE.match(self.time):
            raise ValueError(f"--time {self.time!r} is not a Slurm time (e.g. 24:00:00 or 2-00:00:00)")
        if self.max_running is not None and self.max_running < 1:
            raise ValueError("--max-running must be >= 1")


def shard_arg(task_id: int | str, count: int) -> str:
    return f"{task_id}/{count}"


def task_command(config: str | Path, task_id: int | str, count: int, rephraser: str = "rephraser") -> list[str]:
    """The argv one array task runs (task_id may be the literal "${SLURM_ARRAY_TASK_ID}")."""
    return [*shlex.split(rephraser), "run", "--config", str(config), "--shard", shard_arg(task_id, count)]


def _common_directives(opts: SlurmOptions, job_name: str, log_name: str) -> list[str]:
    lines = [f"--job-name={job_name}", f"--output={opts.log_dir}/{log_name}", f"--time={opts.time}"]
    if opts.partition:
        lines.append(f"--partition={opts.partition}")
    if opts.account:
        lines.append(f"--account={opts.account}")
    return lines


def _script(directives: list[str], workdir: Path, setup: list[str], body: list[str]) -> str:
    out = ["#!/usr/bin/env bash", *(f"#SBATCH {d}" for d in directives), "", "set -euo pipefail"]
    out.append(f"cd {shlex.quote(str(workdir))}")
    out += setup
    out += body
    return "\n".join(out) + "\n"


def render_array_script(config: str | Path, opts: SlurmOptions, workdir: str | Path) -> str:
    """The sbatch script of the job array; task i processes shard i of opts.array."""
    opts.validate()
    n = opts.array
    array = f"0-{n - 1}" + (f"%{opts.max_running}" if opts.max_running else "")
    d = _common_directives(opts, opts.job_name, "%x-%A_%a.out")
    d += [f"--array={array}", "--ntasks=1", "--requeue", "--open-mode=append"]
    if opts.gpus_per_task:
        d.append(f"--gres=gpu:{opts.gpus_per_task}")
    if opts.cpus_per_task:
        d.append(f"--cpus-per-task={opts.cpus_per_task}")
    if opts.mem:
        d.append(f"--mem={opts.mem}")
    d += opts.extra_sbatch
    cmd = " ".join(shlex.quote(a) for a in task_command(config, "__TASK__", n, opts.rephraser))
    cmd = cmd.replace("__TASK__", f"${{{ARRAY_ENV}}}")
    body = [
        f': "${{{ARRAY_ENV}:?this script is a Slurm array task (sbatch it, or set {ARRAY_ENV})}}"',
        f'echo "rephraser shard ${{{ARRAY_ENV}}}/{n} on $(hostname) (restart ${{SLURM_RESTART_COUNT:-0}})"',
        # resumable: a requeued task continues where the killed one committed last
        f"exec {cmd}",
    ]
    return _script(d, Path(workdir), opts.setup, body)


def followup_commands(out_dir: str | Path, rephraser: str = "rephraser") -> list[list[str]]:
    """What runs once every shard is done: quality statistics, then the dataset card."""
    base = shlex.split(rephraser)
    return [[*base, "stats", str(out_dir), "--json"], [*base, "card", str(out_dir)]]


def render_followup_script(out_dir: str | Path, opts: SlurmOptions, workdir: str | Path) -> str:
    d = _common_directives(opts, f"{opts.job_name}-finish", "%x-%j.out")
    d.append("--ntasks=1")
    body = [" ".join(shlex.quote(a) for a in cmd) for cmd in followup_commands(out_dir, opts.rephraser)]
    return _script(d, Path(workdir), opts.setup, body)


def render_submit_script(array_script: str | Path, followup_script: str | Path | None) -> str:
    """Bash that submits the array, then the follow-up job depending on its success."""
    lines = [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        f"ARRAY_JOB=$(sbatch --parsable {shlex.quote(str(array_script))})",
        'ARRAY_JOB="${ARRAY_JOB%%;*}"  # --parsable prints "id[;cluster]"',
        'echo "submitted array job ${ARRAY_JOB}"',
    ]
    if followup_script is not None:
        lines += [
            "FINISH_JOB=$(sbatch --parsable --dependency=afterok:${ARRAY_JOB} --kill-on-invalid-dep=yes "
            f"{shlex.quote(str(followup_script))})",
            'echo "submitted follow-up job ${FINISH_JOB%%;*} (runs after ${ARRAY_JOB} succeeds)"',
        ]
    return "\n".join(lines) + "\n"


def parse_sbatch_directives(script: str) -> dict[str, str]:
    """`#SBATCH --key=value` lines as a dict (flags without a value map to "")."""
    found: dict[str, str] = {}
    for line in script.splitlines():
        if not line.startswith("#SBATCH "):
            continue
        arg = line[len("#SBATCH ") :].strip()
        key, _, value = arg.partition("=")
        found[key.lstrip("-")] = value
    return found


@dataclass
class WrittenScripts:
    array: Path
    followup: Path | None
    submit: Path


def write_scripts(
    config: str | Path, out_dir: str | Path, opts: SlurmOptions, script_path: str | Path, followups: bool,
    workdir: str | Path | None = None,
) -> WrittenScripts:
    """Write <script>, optionally <stem>.finish.sbatch, and <stem>.submit.sh next to it."""
    script = Path(script_path)
    workdir = Path(workdir or Path.cwd()).resolve()
    script.parent.mkdir(parents=True, exist_ok=True)
    (workdir / opts.log_dir).mkdir(parents=True, exist_ok=True)  # Slurm does not create log folders
    script.write_text(render_array_script(config, opts, workdir), encoding="utf-8")
    follow = None
    if followups:
        follow = script.with_name(f"{script.stem}.finish.sbatch")
        follow.write_text(render_followup_script(out_dir, opts, workdir), encoding="utf-8")
    submit = script.with_name(f"{script.stem}.submit.sh")
    submit.write_text(render_submit_script(script.resolve(), follow.resolve() if follow else None), encoding="utf-8")
    for p in (script, submit, *([follow] if follow else [])):
        p.chmod(0o755)
    return WrittenScripts(array=script, followup=follow, submit=submit)
