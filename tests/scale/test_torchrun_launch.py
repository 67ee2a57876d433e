"""The torchrun command line and the sbatch script of a distributed training job (rendering and checks;
tests/train/test_distributed_training.py runs the command, test_slurm_training.py the script on Slurm)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from rephraser.errors import ConfigError
from rephraser.scale.slurm import parse_sbatch_directives
from rephraser.scale.torchrun import TrainJob, render_train_script, shell_join, torchrun_argv

CLI = [sys.executable, "-m", "rephraser.cli"]


def test_torchrun_argv_single_and_multi_node():
    one = torchrun_argv(["train", "--config", "t.yaml"], nproc_per_node=2)
    assert one == ["torchrun", "--standalone", "--nproc-per-node", "2", "--max-restarts", "0",
                   "-m", "rephraser.cli", "train", "--config", "t.yaml"]
    many = torchrun_argv(["train"], nproc_per_node=8, nnodes=4, rdzv_endpoint="node1:29500", rdzv_id="77",
                         max_restarts=2, python="/venv/bin/python")
    assert many[:3] == ["/venv/bin/python", "-m", "torch.distributed.run"]
    joined = " ".join(many)
    assert "--nnodes 4 --rdzv-backend c10d --rdzv-endpoint node1:29500 --rdzv-id 77" in joined
    assert "--nproc-per-node 8 --max-restarts 2 -m rephraser.cli train" in joined
    with pytest.raises(ConfigError, match="rendezvous endpoint"):
        torchrun_argv(["train"], nproc_per_node=8, nnodes=2)


def test_shell_join_keeps_variables_and_quotes_the_rest():
    line = shell_join(["srun", "a b", "${MASTER_ADDR}:1", "it's"])
    assert line == """srun 'a b' "${MASTER_ADDR}:1" 'it'"'"'s'"""
    out = subprocess.run(["bash", "-c", f"MASTER_ADDR=h; printf '%s|' {line[5:]}"], capture_output=True, text=True)
    assert out.stdout == "a b|h:1|it's|"


def test_sbatch_script_for_a_multi_node_gpu_job(tmp_path):
    job = TrainJob(nodes=8, nproc_per_node=8, partition="gpu", time="2-00:00:00", cpus_per_task=96, max_restarts=1,
                   setup=["source /venv/bin/activate"])
    script = render_train_script(tmp_path / "t.yaml", job, tmp_path)
    d = parse_sbatch_directives(script)
    assert d["nodes"] == "8" and d["ntasks-per-node"] == "1" and d["gpus-per-node"] == "8"
    assert d["partition"] == "gpu" and d["cpus-per-task"] == "96" and "requeue" in d
    assert d["chdir"] == str(tmp_path) and d["output"].startswith(str(tmp_path / "slurm_logs"))
    assert 'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in script
    srun = next(line for line in script.splitlines() if line.startswith("srun "))
    assert srun.startswith("srun --nodes=8 --ntasks-per-node=1 --kill-on-bad-exit=1 python -m torch.distributed.run")
    assert '--nnodes 8 --rdzv-backend c10d --rdzv-endpoint "${MASTER_ADDR}:29500" --rdzv-id "${SLURM_JOB_ID}"' in srun
    assert srun.endswith(f"-m rephraser.cli train --config {tmp_path / 't.yaml'}")
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    cpu = render_train_script(tmp_path / "t.yaml", TrainJob(nproc_per_node=2, gpus=False), tmp_path)
    assert "gpus-per-node" not in parse_sbatch_directives(cpu)


def test_slurm_train_cli_writes_the_script_and_checks_the_world_size(tmp_path, repo_root):
    example = repo_root / "examples" / "train_study_proxy.yaml"
    script = tmp_path / "proxy.sbatch"
    r = subprocess.run([*CLI, "slurm-train", "--config", str(example), "--nodes", "8", "--nproc-per-node", "8",
                        "--output-script", str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "64; 8 sequences per rank and step in micro-batches of 4" in r.stdout  # 2 accumulation steps
    assert parse_sbatch_directives(script.read_text())["nodes"] == "8"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(example.read_text()), "batch_size": 500}))
    r = subprocess.run([*CLI, "slurm-train", "--config", str(bad), "--nodes", "8", "--nproc-per-node", "8",
                        "--output-script", str(tmp_path / "no.sbatch")], capture_output=True, text=True, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: batch_size 500 is not divisible by the world size 64 (every rank takes an equal slice of each step's batch)")
    assert not (tmp_path / "no.sbatch").exists()
    r = subprocess.run([*CLI, "slurm-train", "--config", str(example), "--time", "forever"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "not a Slurm time" in r.stderr and "Traceback" not in r.stderr
