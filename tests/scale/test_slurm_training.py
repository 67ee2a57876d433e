"""A 2-process gloo training job through `srun torchrun` on the real local Slurm cluster
(../shared/tools/slurm-local.sh via the root conftest's `slurm_cluster`; skipped unless root, CI is)."""

from __future__ import annotations

import json
import socket
import sys

import torch
import yaml

from rephraser.scale.torchrun import TrainJob, write_train_script
from rephraser.train.model import load_checkpoint
from rephraser.train.trainer import TrainConfig, train

MICRO = dict(hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=160)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_training_job_on_slurm(slurm_cluster, tiny_corpus, tmp_path):
    cfg = dict(data=str(tiny_corpus), output=str(tmp_path / "out"), model=MICRO, seq_len=64, batch_size=8,
               micro_batch_size=4, lr=3e-3, steps=10, log_every=5, eval_every=10, eval_tokens=2048,
               checkpoint_every=5, threads=1)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    job = TrainJob(nodes=1, nproc_per_node=2, gpus=False, cpus_per_task=2, time="00:15:00", python=sys.executable,
                   rdzv_port=_free_port(), job_name=f"train-test-{tmp_path.name[-12:]}")
    script = write_train_script(tmp_path / "train.yaml", job, tmp_path / "train.sbatch", workdir=tmp_path,
                                cfg=TrainConfig(**cfg))
    elsewhere = tmp_path / "elsewhere"  # sbatch from another folder: the script must not depend on it
    elsewhere.mkdir()
    job_id = slurm_cluster.sbatch(str(script), cwd=elsewhere)
    states = slurm_cluster.wait_finished(job_id, timeout=600)
    log = next((tmp_path / "slurm_logs").glob("*.out")).read_text()
    assert set(states.values()) == {"COMPLETED"}, log[-3000:]
    assert "rephraser train: 1 node(s) x 2 rank(s), rendezvous" in log
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["world_size"], summary["parallel"], summary["steps"]) == (2, "ddp", 10)

    # the same run in this process (one rank, the same micro-batches): identical weights
    train(TrainConfig(**{**cfg, "output": str(tmp_path / "local")}))
    a, b = load_checkpoint(tmp_path / "out" / "final")[0].state_dict(), load_checkpoint(tmp_path / "local" / "final")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
