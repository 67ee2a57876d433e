"""`rephraser slurm` on a real Slurm cluster (../shared/tools/slurm-local.sh: slurmctld + slurmd, 2 CPUs, no
GPUs), with the loopback fake OpenAI server as the engine. Skipped unless running as root (CI is).

Every test submits from a folder other than the one the scripts were written in, and checks exactly-once
output (every (document, prompt) once across data/rejected/dead_letter) plus the follow-up's outputs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .conftest import ids_by_fate, run_yaml, write_docs

CLI = [sys.executable, "-m", "rephraser.cli"]
RUNNER = f"{sys.executable} -m rephraser.cli"
DONE = "COMPLETED"


def _write_job(tmp_path: Path, url: str, *, docs: int, shards: int, prompts: str, extra: list[str] = (),
               in_flight: int = 8, rows_per_part: int = 4) -> tuple[Path, Path, Path]:
    """Config + scripts written from tmp/work; returns (config, output folder, array script)."""
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out"
    cfg = run_yaml(tmp_path / "run.yaml", write_docs(tmp_path / "docs.jsonl", docs), url, out,
                   rows_per_part=rows_per_part, prompts=prompts, in_flight=in_flight)
    script = tmp_path / "jobs" / "job.sbatch"
    subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", str(shards), "--rephraser", RUNNER,
                    "--output-script", str(script), "--followups", "--job-name", f"t{os.getpid()}", *extra],
                   capture_output=True, text=True, cwd=work, check=True)
    return cfg, out, script


def _submit(cluster, submit_sh: Path, cwd: Path) -> tuple[str, str]:
    cwd.mkdir(exist_ok=True)
    r = subprocess.run(["bash", str(submit_sh)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return _job_ids(cluster, r.stdout)


def _job_ids(cluster, stdout: str) -> tuple[str, str]:
    array = re.search(r"submitted array job (\d+)", stdout)
    finish = re.search(r"submitted follow-up job (\d+)", stdout)
    assert array and finish, stdout
    cluster.track(array[1], finish[1])
    return array[1], finish[1]


def _assert_exactly_once(out: Path, docs: int, prompts: list[str]) -> None:
    keys = [k for fate in ids_by_fate(out).values() for k in fate]
    assert not [k for k, n in Counter(keys).items() if n > 1], "duplicated rows"
    assert set(keys) == {f"doc{i}|{p}|0" for i in range(docs) for p in prompts}


def _assert_followup_done(out: Path, shards: int) -> None:
    import json

    stats = json.loads((out / "stats.json").read_text())
    assert stats.get("shards", 1) == shards and stats["conservation_ok"]
    assert (out / "stats_quality.json").is_file() and (out / "README.md").is_file()  # stats --json, card


def _logs(tmp_path: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in sorted((tmp_path / "work" / "slurm_logs").glob("*.out"))}


def _wait_parts(out: Path, tag: str, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / "manifests" / tag).glob("part-*.json"))) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"shard {tag} committed fewer than {n} parts in {timeout}s")


def _shard_pid(cfg: Path, shard: str) -> int:
    """The `rephraser run --config cfg --shard shard` process the array task started (its own child)."""
    want = ["--config", str(cfg), "--shard", shard]
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "run" in argv and all(w in argv for w in want):
            return int(p.name)
    raise AssertionError(f"no running process for shard {shard} of {cfg}")


def test_tasks_starting_together_write_every_document_once(slurm_cluster, fake_server, tmp_path):
    """8 array tasks on 2 CPUs start in pairs at the same moment into one output folder; submitted from another
    folder. No task may need a retry (a retry would hide a race between tasks), and the follow-up runs."""
    url = fake_server()
    cfg, out, script = _write_job(tmp_path, url, docs=48, shards=8, prompts="article,faq",
                                  extra=["--cpus-per-task", "1"])
    array, finish = _submit(slurm_cluster, script.with_name("job.submit.sh"), tmp_path / "elsewhere")
    assert set(slurm_cluster.wait_finished(array).values()) == {DONE}
    assert slurm_cluster.wait_finished(finish) == {finish: DONE}
    _assert_exactly_once(out, 48, ["article", "faq"])
    _assert_followup_done(out, 8)
    logs = _logs(tmp_path)
    tasks = [t for n, t in logs.items() if "-finish-" not in n]
    assert len(tasks) == 8 and not list((tmp_path / "elsewhere").iterdir())  # absolute log paths
    for text in tasks:
        assert "attempt 1/3" in text and "attempt 2/3" not in text, text[-3000:]
    assert sorted(p.name for p in (out / "manifests").iterdir()) == [f"s0000{i}-of-00008" for i in range(8)]


def test_requeue_mid_run_keeps_exactly_once_and_the_followup(slurm_cluster, fake_server, tmp_path):
    url = fake_server("--delay-ms", "400")
    cfg, out, script = _write_job(tmp_path, url, docs=40, shards=2, prompts="faq", in_flight=1, rows_per_part=2)
    array, finish = _submit(slurm_cluster, script.with_name("job.submit.sh"), tmp_path / "elsewhere")
    _wait_parts(out, "s00001-of-00002", 2)
    subprocess.run(["scontrol", "requeue", f"{array}_1"], check=True, capture_output=True)
    assert set(slurm_cluster.wait_finished(array, timeout=300).values()) == {DONE}
    assert slurm_cluster.wait_finished(finish) == {finish: DONE}
    _assert_exactly_once(out, 40, ["faq"])
    _assert_followup_done(out, 2)
    task1 = next(t for n, t in _logs(tmp_path).items() if n.endswith("_1.out"))
    assert "slurm restart 1" in task1, task1[-3000:]  # it really ran twice


def test_crashed_task_is_retried_in_its_allocation(slurm_cluster, fake_server, tmp_path):
    url = fake_server("--delay-ms", "300")
    cfg, out, script = _write_job(tmp_path, url, docs=30, shards=2, prompts="faq", in_flight=1, rows_per_part=2)
    array, finish = _submit(slurm_cluster, script.with_name("job.submit.sh"), tmp_path / "elsewhere")
    _wait_parts(out, "s00001-of-00002", 1)
    os.kill(_shard_pid(cfg, "1/2"), 9)  # an OOM kill or a crash: non-zero exit inside the allocation
    assert set(slurm_cluster.wait_finished(array, timeout=300).values()) == {DONE}
    assert slurm_cluster.wait_finished(finish) == {finish: DONE}
    _assert_exactly_once(out, 30, ["faq"])
    _assert_followup_done(out, 2)
    task1 = next(t for n, t in _logs(tmp_path).items() if n.endswith("_1.out"))
    assert "exit 137; resuming" in task1 and "attempt 2/3" in task1, task1[-3000:]


def test_failed_task_is_finished_by_resubmit_failed(slurm_cluster, fake_server, tmp_path):
    """Retries spent (here: none allowed): the task fails, Slurm cancels the follow-up, and
    `rephraser slurm --resubmit-failed --submit` reruns only that shard and a new follow-up."""
    url = fake_server("--delay-ms", "300")
    cfg, out, script = _write_job(tmp_path, url, docs=30, shards=2, prompts="faq", in_flight=1, rows_per_part=2,
                                  extra=["--retries", "0"])
    array, finish = _submit(slurm_cluster, script.with_name("job.submit.sh"), tmp_path / "elsewhere")
    _wait_parts(out, "s00001-of-00002", 1)
    os.kill(_shard_pid(cfg, "1/2"), 9)
    states = slurm_cluster.wait_finished(array, timeout=300)
    assert states == {f"{array}_0": DONE, f"{array}_1": "FAILED"}
    assert slurm_cluster.wait_finished(finish) == {finish: "CANCELLED"}  # --kill-on-invalid-dep
    check = subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "2", "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "1 (incomplete)" in check.stdout

    r = subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "2", "--rephraser", RUNNER,
                        "--output-script", str(script.with_name("again.sbatch")), "--followups", "--retries", "0",
                        "--job-name", f"t{os.getpid()}", "--resubmit-failed", "--submit"],
                       capture_output=True, text=True, cwd=tmp_path / "work")
    assert r.returncode == 0, r.stderr
    assert "1 of 2 shards complete; resubmitting 1: 1" in r.stdout
    array2, finish2 = _job_ids(slurm_cluster, r.stdout)
    assert slurm_cluster.wait_finished(array2, timeout=300) == {f"{array2}_1": DONE}
    assert slurm_cluster.wait_finished(finish2) == {finish2: DONE}
    _assert_exactly_once(out, 30, ["faq"])
    _assert_followup_done(out, 2)


def test_gpu_request_follows_the_engine_on_a_cluster_without_gpus(slurm_cluster, tmp_path):
    """The local cluster has no GPUs: a CPU/HTTP engine's script asks for none and is accepted; a vLLM
    engine's asks for its tensor-parallel GPUs, which this cluster rightly refuses."""
    scripts = {}
    for name, engine in {"openai": "{kind: openai, base_url: 'http://10.0.0.1:8000', model: m}",
                         "vllm": "{kind: vllm, model: m, engine_args: {tensor_parallel_size: 2}}"}.items():
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(f"prompts: [faq]\nengine: {engine}\noutput: {{dir: '{tmp_path / name}'}}\n")
        scripts[name] = tmp_path / f"{name}.sbatch"
        subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "2", "--output-script", str(scripts[name])],
                       check=True, capture_output=True, cwd=tmp_path)

    def test_only(script: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True, cwd="/")

    assert test_only(scripts["openai"]).returncode == 0
    refused = test_only(scripts["vllm"])
    assert refused.returncode != 0 and "gres=gpu:2" in scripts["vllm"].read_text()
    assert "node configuration is not available" in refused.stderr or "gres" in refused.stderr.lower()


@pytest.fixture(autouse=True)
def _python_on_nodes(monkeypatch):
    """Array tasks run `python -m rephraser.cli` from the submitting environment (sbatch exports it)."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    if src not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
