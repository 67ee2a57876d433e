"""Slurm job arrays over shards: one array task = one shard = one `rephraser run --shard i/N`.

A shard's run is resumable and exactly-once (manifests + request cache), so running it again is always
safe. Recovery has two layers:
- inside an allocation, the task script reruns `rephraser run` when it crashes (bounded by `retries`);
  the rerun resumes from the last commit, and the array task still ends COMPLETED, so the follow-up job
  (`--dependency=afterok`) stays alive. Exit status 2 (an error the user must fix) is not retried, and a
  signal from Slurm (requeue, preemption, time limit, scancel) ends the task without a retry.
- when a task's allocation ended anyway (retries spent, cancelled, node lost without requeue), Slurm
  cancels the follow-up (`--kill-on-invalid-dep=yes`; a requeued task does not revive it), and
  `rephraser slurm --resubmit-failed` submits an array of only the unfinished shards plus a new follow-up.
  Which shards are unfinished is read from the output folder (`stats/<shard>.json` with `complete`), not
  from Slurm's accounting, which may be off or may have forgotten the job.
Slurm itself requeues tasks on preemption and node failure (`--requeue`); logs are appended
(`--open-mode=append`) at absolute paths, and every job runs in the folder it was written from (`--chdir`),
so the submit script can be run from anywhere.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from rephraser import storage
from rephraser.atomic import atomic_write_text
from rephraser.lease import LEASE_EXIT_CODE, LEASE_TTL_S

ARRAY_ENV = "SLURM_ARRAY_TASK_ID"
_TIME_RE = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")
USER_ERROR_EXIT = 2  # rephraser's exit status for errors a rerun cannot fix (cli.py)


@dataclass
class SlurmOptions:
    array: int  # number of shards
    partition: str | None = None
    gpus_per_task: int = 0  # GPUs per task; `rephraser slurm` derives it from the engine unless given
    cpus_per_task: int | None = None
    mem: str | None = None  # e.g. "64G"
    time: str = "24:00:00"
    job_name: str = "rephraser"
    account: str | None = None
    max_running: int | None = None  # "%k" throttle: at most k array tasks at once
    log_dir: str = "slurm_logs"  # relative to the working folder unless absolute
    setup: list[str] = field(default_factory=list)  # shell lines run first, e.g. "source .venv/bin/activate"
    rephraser: str = "rephraser"  # how to call the CLI on the nodes
    extra_sbatch: list[str] = field(default_factory=list)  # raw "--key=value" directives
    retries: int = 2  # reruns of a crashed `rephraser run` inside one allocation
    tasks: list[int] | None = None  # only these shards (a resubmission); None = all of 0..array-1

    def validate(self) -> None:
        if self.array < 1:
            raise ValueError(f"--array must be >= 1, got {self.array}")
        if self.gpus_per_task < 0:
            raise ValueError("--gpus-per-task must be >= 0")
        if not _TIME_RE.match(self.time):
            raise ValueError(f"--time {self.time!r} is not a Slurm time (e.g. 24:00:00 or 2-00:00:00)")
        if self.max_running is not None and self.max_running < 1:
            raise ValueError("--max-running must be >= 1")
        if self.retries < 0:
            raise ValueError("--retries must be >= 0")
        if self.tasks is not None and any(not 0 <= t < self.array for t in self.tasks):
            raise ValueError(f"array tasks must be shards 0..{self.array - 1}, got {self.tasks}")


def shard_arg(task_id: int | str, count: int) -> str:
    return f"{task_id}/{count}"


def task_command(config: str | Path, task_id: int | str, count: int, rephraser: str = "rephraser") -> list[str]:
    """The argv one array task runs (task_id may be the literal "${SLURM_ARRAY_TASK_ID}")."""
    return [*shlex.split(rephraser), "run", "--config", str(config), "--shard", shard_arg(task_id, count)]


def array_spec(opts: SlurmOptions) -> str:
    """`0-63`, or `3,17,40` for a resubmission, with `%k` when throttled."""
    spec = f"0-{opts.array - 1}" if opts.tasks is None else ",".join(str(t) for t in sorted(set(opts.tasks)))
    return spec + (f"%{opts.max_running}" if opts.max_running else "")


def log_path(opts: SlurmOptions, workdir: Path, name: str) -> Path:
    base = Path(opts.log_dir)
    return (base if base.is_absolute() else workdir / base) / name


def common_directives(opts: SlurmOptions, job_name: str, log: Path, workdir: Path) -> list[str]:
    # Absolute log path + --chdir: Slurm opens the log before the script runs, relative to where sbatch
    # was called, so a relative path fails ("Could not open stdout file") when submitted from elsewhere.
    lines = [f"--job-name={job_name}", f"--output={log}", f"--chdir={workdir}", f"--time={opts.time}"]
    if opts.partition:
        lines.append(f"--partition={opts.partition}")
    if opts.account:
        lines.append(f"--account={opts.account}")
    return lines


def resource_directives(opts: SlurmOptions) -> list[str]:
    lines = ["--ntasks=1"]
    if opts.gpus_per_task:  # never on a CPU engine: a cluster without GPUs rejects any GPU request
        lines.append(f"--gres=gpu:{opts.gpus_per_task}")
    if opts.cpus_per_task:
        lines.append(f"--cpus-per-task={opts.cpus_per_task}")
    if opts.mem:
        lines.append(f"--mem={opts.mem}")
    return lines


def render_script(directives: list[str], workdir: Path, setup: list[str], body: list[str]) -> str:
    out = ["#!/usr/bin/env bash", *(f"#SBATCH {d}" for d in directives), "", "set -euo pipefail"]
    out.append(f"cd {shlex.quote(str(workdir))}")
    out += setup
    out += body
    return "\n".join(out) + "\n"


def retry_function() -> list[str]:
    """Bash `retry MAX CMD...`: rerun a failed resumable command in this allocation (see the module doc).

    Exit 75 means another live writer holds the shard's lease (e.g. the old incarnation of a requeued task,
    still running on a lost node): wait for the lease to be released or go stale, then try again; those
    waits are bounded separately and do not use up the crash retries."""
    wait = int(LEASE_TTL_S // 2)
    busy_max = 6  # 6 waits of TTL/2 = 3 lease lifetimes
    return [
        "child=",
        # Slurm's SIGTERM (requeue, preemption, time limit, scancel) ends the task: pass it on, no retry.
        'trap \'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; fi; '
        "exit 143' TERM INT",
        "retry() {",
        "  local max=$1 attempt=1 busy=0 rc; shift",
        "  while :; do",
        '    echo "rephraser-task: attempt ${attempt}/${max}: $*"',
        '    "$@" & child=$!',
        '    rc=0; wait "$child" || rc=$?; child=',
        "    ((rc != 0)) || return 0",
        f"    if ((rc == {USER_ERROR_EXIT})); then",
        f'      echo "rephraser-task: exit {USER_ERROR_EXIT} is an error to fix (see above): not retried" >&2; '
        f"return {USER_ERROR_EXIT}",
        "    fi",
        f"    if ((rc == {LEASE_EXIT_CODE} && busy < {busy_max})); then",
        f'      busy=$((busy + 1)); echo "rephraser-task: shard busy (another writer holds its lease); '
        f'waiting {wait}s (${{busy}}/{busy_max})" >&2',
        f"      sleep {wait}; continue",
        "    fi",
        "    if ((attempt >= max)); then",
        '      echo "rephraser-task: exit ${rc}; giving up after ${attempt} attempt(s)" >&2; return "$rc"',
        "    fi",
        '    echo "rephraser-task: exit ${rc}; resuming in $((5 * attempt))s" >&2; sleep $((5 * attempt))',
        "    attempt=$((attempt + 1))",
        "  done",
        "}",
    ]


def render_array_script(config: str | Path, opts: SlurmOptions, workdir: str | Path) -> str:
    """The sbatch script of the job array; task i processes shard i of opts.array."""
    opts.validate()
    workdir = Path(workdir)
    n = opts.array
    d = common_directives(opts, opts.job_name, log_path(opts, workdir, "%x-%A_%a.out"), workdir)
    d += [f"--array={array_spec(opts)}", *resource_directives(opts), "--requeue", "--open-mode=append"]
    d += opts.extra_sbatch
    cmd = " ".join(shlex.quote(a) for a in task_command(config, "__TASK__", n, opts.rephraser))
    cmd = cmd.replace("__TASK__", f"${{{ARRAY_ENV}}}")
    body = [
        f': "${{{ARRAY_ENV}:?this script is a Slurm array task (sbatch it, or set {ARRAY_ENV})}}"',
        f'echo "rephraser shard ${{{ARRAY_ENV}}}/{n} on $(hostname) (slurm restart ${{SLURM_RESTART_COUNT:-0}})"',
        *retry_function(),
        f"retry {opts.retries + 1} {cmd}",
    ]
    return render_script(d, workdir, opts.setup, body)


def followup_commands(config: str | Path, out_dir: storage.PathLike, count: int,
                      rephraser: str = "rephraser") -> list[list[str]]:
    """What runs once every shard is done: check that all shards are complete (and merge their statistics
    again: shards that finish together may each have merged before seeing the other), then quality
    statistics and the dataset card."""
    base = shlex.split(rephraser)
    return [[*base, "slurm", "--config", str(config), "--array", str(count), "--check"],
            [*base, "stats", str(out_dir), "--json"], [*base, "card", str(out_dir)]]


def render_followup_script(config: str | Path, out_dir: storage.PathLike, opts: SlurmOptions, workdir: str | Path) -> str:
    workdir = Path(workdir)
    name = f"{opts.job_name}-finish"
    d = common_directives(opts, name, log_path(opts, workdir, "%x-%j.out"), workdir) + ["--ntasks=1"]
    body = [" ".join(shlex.quote(a) for a in cmd) for cmd in followup_commands(config, out_dir, opts.array, opts.rephraser)]
    return render_script(d, workdir, opts.setup, body)


def render_submit_script(array_script: str | Path | None, followup_script: str | Path | None) -> str:
    """Bash that submits the array, then the follow-up job depending on its success."""
    lines = ["#!/usr/bin/env bash", "set -euo pipefail"]
    dep = ""
    if array_script is not None:
        lines += [
            f"ARRAY_JOB=$(sbatch --parsable {shlex.quote(str(array_script))})",
            'ARRAY_JOB="${ARRAY_JOB%%;*}"  # --parsable prints "id[;cluster]"',
            'echo "submitted array job ${ARRAY_JOB}"',
        ]
        dep = "--dependency=afterok:${ARRAY_JOB} --kill-on-invalid-dep=yes "
    if followup_script is not None:
        lines += [
            f"FINISH_JOB=$(sbatch --parsable {dep}{shlex.quote(str(followup_script))})",
            'FINISH_JOB="${FINISH_JOB%%;*}"',
            'echo "submitted follow-up job ${FINISH_JOB}' + (' (runs after ${ARRAY_JOB} succeeds)"' if dep else '"'),
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
    array: Path | None
    followup: Path | None
    submit: Path


def write_scripts(
    config: str | Path, out_dir: storage.PathLike, opts: SlurmOptions, script_path: str | Path, followups: bool,
    workdir: str | Path | None = None,
) -> WrittenScripts:
    """Write <script> (unless opts.tasks is empty), optionally <stem>.finish.sbatch, and <stem>.submit.sh."""
    script = Path(script_path).resolve()
    workdir = Path(workdir or Path.cwd()).resolve()
    script.parent.mkdir(parents=True, exist_ok=True)
    log_path(opts, workdir, "x").parent.mkdir(parents=True, exist_ok=True)  # Slurm does not create log folders
    array = None
    if opts.tasks != []:
        array = script
        atomic_write_text(array, render_array_script(config, opts, workdir))
    follow = None
    if followups:
        follow = script.with_name(f"{script.stem}.finish.sbatch")
        atomic_write_text(follow, render_followup_script(config, out_dir, opts, workdir))
    submit = script.with_name(f"{script.stem}.submit.sh")
    atomic_write_text(submit, render_submit_script(array, follow))
    for p in (submit, *(x for x in (array, follow) if x)):
        p.chmod(0o755)
    return WrittenScripts(array=array, followup=follow, submit=submit)
