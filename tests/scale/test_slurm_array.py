"""`rephraser slurm`: the written job array runs every shard exactly once (executed locally)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from rephraser.scale.slurm import SlurmOptions, parse_sbatch_directives, render_array_script

from .conftest import ids_by_fate, run_yaml, write_docs

CLI = [sys.executable, "-m", "rephraser.cli"]
RUNNER = f"{sys.executable} -m rephraser.cli"


def test_array_script_directives(tmp_path):
    opts = SlurmOptions(array=4, partition="gpu", gpus_per_task=2, time="2-00:00:00", max_running=2, mem="64G")
    d = parse_sbatch_directives(render_array_script("/abs/run.yaml", opts, tmp_path))
    assert d["array"] == "0-3%2" and d["partition"] == "gpu" and d["gres"] == "gpu:2"
    assert "requeue" in d and d["open-mode"] == "append" and d["time"] == "2-00:00:00" and d["mem"] == "64G"
    # Slurm opens the log before the script runs: absolute path, and the job runs where it was written
    assert d["output"] == f"{tmp_path}/slurm_logs/%x-%A_%a.out" and d["chdir"] == str(tmp_path)
    assert "gres" not in parse_sbatch_directives(render_array_script("/r.yaml", SlurmOptions(array=2), tmp_path))
    again = SlurmOptions(array=8, tasks=[5, 1], max_running=1, log_dir="/logs")
    d = parse_sbatch_directives(render_array_script("/abs/run.yaml", again, tmp_path))
    assert d["array"] == "1,5%1" and d["output"] == "/logs/%x-%A_%a.out"
    with pytest.raises(ValueError, match="shards 0..7"):
        SlurmOptions(array=8, tasks=[8]).validate()
    with pytest.raises(ValueError, match="Slurm time"):
        SlurmOptions(array=2, time="forever").validate()
    with pytest.raises(ValueError, match="--array"):
        SlurmOptions(array=0).validate()


def test_job_array_tasks_cover_every_document_once(tmp_path, fake_server):
    url = fake_server()
    docs = write_docs(tmp_path / "docs.jsonl", 30)
    out = tmp_path / "out"
    cfg = run_yaml(tmp_path / "run.yaml", docs, url, out, rows_per_part=4, prompts="article,faq")
    script = tmp_path / "jobs" / "job.sbatch"
    res = subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "3", "--gpus-per-task", "0",
                          "--rephraser", RUNNER, "--output-script", str(script), "--followups"],
                         capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "submit with" in res.stdout
    text = script.read_text()
    directives = parse_sbatch_directives(text)
    assert directives["array"] == "0-2" and "requeue" in directives and "gres" not in directives
    finish = (tmp_path / "jobs" / "job.finish.sbatch").read_text()
    assert " stats " in finish and " card " in finish

    env = dict(os.environ)
    elsewhere = tmp_path / "elsewhere"  # the script runs in the folder it was written from (--chdir + cd)
    elsewhere.mkdir()
    without = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=elsewhere)
    assert without.returncode != 0 and "SLURM_ARRAY_TASK_ID" in without.stderr
    for task in range(3):
        env["SLURM_ARRAY_TASK_ID"] = str(task)
        r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=elsewhere)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "attempt 1/3" in r.stdout and "attempt 2/3" not in r.stdout
    # a requeued task (run again) must not duplicate anything
    env["SLURM_ARRAY_TASK_ID"] = "1"
    subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, check=True)

    keys = [k for fate in ids_by_fate(out).values() for k in fate]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes
    expected = {f"doc{i}|{p}|0" for i in range(30) for p in ("article", "faq")}
    assert set(keys) == expected
    assert sorted(p.name for p in (out / "manifests").iterdir()) == [f"s0000{i}-of-00003" for i in range(3)]


def test_submit_script_chains_followup_on_the_array(tmp_path):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    log = tmp_path / "sbatch.log"
    sbatch = fakebin / "sbatch"
    sbatch.write_text(f'#!/usr/bin/env bash\necho "$@" >> {log}\nn=$(wc -l < {log}); echo "$((1000 + n));cluster1"\n')
    sbatch.chmod(0o755)
    cfg = tmp_path / "run.yaml"
    cfg.write_text("prompts: [faq]\nengine: {kind: vllm, model: HuggingFaceTB/SmolLM2-1.7B-Instruct}\n")
    script = tmp_path / "job.sbatch"
    subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "8", "--partition", "h100",
                    "--output-script", str(script), "--followups"], check=True, capture_output=True, cwd=tmp_path)
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", str(tmp_path / "job.submit.sh")], capture_output=True, text=True, env=env, check=True)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("--parsable") and calls[0].endswith("job.sbatch")
    assert "--dependency=afterok:1001" in calls[1] and calls[1].endswith("job.finish.sbatch")
    assert "runs after 1001" in out.stdout
    assert parse_sbatch_directives(script.read_text())["gres"] == "gpu:1"


def test_bad_options_are_one_line_errors(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("prompts: [faq]\n")
    r = subprocess.run([*CLI, "slurm", "--config", str(cfg), "--array", "2", "--time", "soon"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "is not a Slurm time" in r.stderr and "Traceback" not in r.stderr


def _task_env(tmp_path, body: str) -> dict[str, str]:
    """A fake `rephraser` for the task script: runs `body` (bash) with the attempt count in $n."""
    fake = tmp_path / "fake-rephraser"
    fake.write_text(f'#!/usr/bin/env bash\nn=$(( $(cat {tmp_path}/n 2>/dev/null || echo 0) + 1 )); '
                    f'echo $n > {tmp_path}/n\n{body}\n')
    fake.chmod(0o755)
    return {**os.environ, "SLURM_ARRAY_TASK_ID": "0"}


@pytest.mark.parametrize("body, retries, rc, attempts", [
    ("[ $n -ge 3 ]", 2, 0, 3),        # crashes twice, then resumes to the end: the task succeeds
    ("exit 137", 1, 137, 2),          # keeps crashing: bounded by --retries, the last status is the task's
    ("exit 2", 5, 2, 1),              # an error to fix (bad config, refused resume): never retried
    ("[ $n -ge 4 ] || exit 75", 0, 0, 4),  # shard busy (lease held by a live writer): waits, not a crash
])
def test_task_script_retries_a_crashed_run(tmp_path, body, retries, rc, attempts):
    env = _task_env(tmp_path, body)
    opts = SlurmOptions(array=1, retries=retries, rephraser=str(tmp_path / "fake-rephraser"))
    script = tmp_path / "task.sh"
    script.write_text(render_array_script("/abs/run.yaml", opts, tmp_path).replace("sleep $((5 * attempt))", ":")
                      .replace("sleep 30;", ":;"))
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env)
    assert r.returncode == rc, r.stdout + r.stderr
    assert int((tmp_path / "n").read_text()) == attempts


def test_task_script_passes_slurms_sigterm_on_and_does_not_retry(tmp_path):
    import signal
    import time

    env = _task_env(tmp_path, "trap 'echo got-term; exit 143' TERM; while :; do sleep 0.1; done")
    script = tmp_path / "task.sh"
    script.write_text(render_array_script("/abs/run.yaml", SlurmOptions(array=1, rephraser=str(tmp_path / "fake-rephraser")),
                                          tmp_path))
    proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (tmp_path / "n").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the fake installed its trap
    proc.send_signal(signal.SIGTERM)  # requeue / preemption / time limit
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "got-term" in out and "attempt 2" not in out
    assert (tmp_path / "n").read_text().strip() == "1"
