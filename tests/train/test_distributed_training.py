"""Distributed proxy training on 2 CPU processes (torchrun, gloo): the same updates as one process, resume
across world sizes, elastic restart after kill -9, FSDP2 on CPU, and one-line errors.

Why 2 ranks can equal 1 process bit for bit: with micro_batch_size 4 of a global batch of 8, rank r
computes the gradient g_r of rows 4r..4r+3 and DDP averages (g_0 + g_1) / 2; one process accumulating
the same two micro-batches computes g_0 / 2 + g_1 / 2. Halving is exact in floating point and a sum of
two terms does not depend on their order, so the updates, and therefore the weights, are identical.
A single process that runs all 8 rows in one forward pass reduces the weight gradients over 8 rows in
one matrix product instead of two of 4, which rounds differently (~1e-7 relative): that comparison is
made with a tolerance. The logged loss is a mean over a log window, summed in a different order on 2
ranks than on 1 (its last printed digit may differ): compared to 1e-5.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rephraser.errors import ConfigError
from rephraser.scale.torchrun import torchrun_argv
from rephraser.train.model import load_checkpoint
from rephraser.train.trainer import TrainConfig, accumulation, train

MICRO = dict(hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=160)
BASE = dict(model=MICRO, seq_len=64, batch_size=8, micro_batch_size=4, lr=3e-3, steps=40, log_every=5,
            eval_every=20, eval_tokens=2048, checkpoint_every=5, threads=1)
LAUNCH_TIMEOUT = 420  # generous: two ranks importing torch on a busy 2-core machine


def _config(data: Path, out: Path, **kw) -> dict:
    return {**BASE, "data": str(data), "output": str(out), **kw}


def _torchrun(tmp: Path, cfg: dict, *, max_restarts: int = 0) -> subprocess.Popen:
    path = tmp / f"{Path(cfg['output']).name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    argv = torchrun_argv(["train", "--config", str(path)], nproc_per_node=2, max_restarts=max_restarts,
                         python=sys.executable)
    # its own session: a timed-out job is killed with all its ranks, none left behind
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {LAUNCH_TIMEOUT} s:\n{out[-3000:]}")
    return out


def _run_ok(tmp: Path, cfg: dict) -> Path:
    proc = _torchrun(tmp, cfg)
    out = _finish(proc)
    assert proc.returncode == 0, out[-3000:]
    return Path(cfg["output"])


def _weights(run: Path, sub: str = "final") -> dict[str, torch.Tensor]:
    return load_checkpoint(run / sub)[0].state_dict()


def _curve(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "curve.jsonl").read_text().splitlines()]


def _assert_same_curve(a: Path, b: Path, loss_tol: float) -> None:
    ca, cb = _curve(a), _curve(b)
    assert [p["step"] for p in ca] == [p["step"] for p in cb]
    for pa, pb in zip(ca, cb, strict=True):
        assert pa["loss"] == pytest.approx(pb["loss"], abs=loss_tol), pa["step"]
        assert pa["lr"] == pb["lr"]
        if pa["heldout_loss"] is not None:
            assert pa["heldout_loss"] == pytest.approx(pb["heldout_loss"], rel=1e-6)


@pytest.fixture(scope="module")
def ddp_run(tiny_corpus, tmp_path_factory) -> Path:
    """40 steps on 2 gloo ranks (DDP), a checkpoint every 5 steps."""
    tmp = tmp_path_factory.mktemp("ddp")
    return _run_ok(tmp, _config(tiny_corpus, tmp / "ddp"))


def test_two_ranks_equal_one_process(ddp_run, tiny_corpus, tmp_path):
    summary = json.loads((ddp_run / "summary.json").read_text())
    assert (summary["world_size"], summary["parallel"], summary["accumulation_steps"]) == (2, "ddp", 1)
    assert summary["tokens_per_step"] == 8 * 64 and summary["tokens"] == 40 * 8 * 64
    assert summary["tok_s_per_device"] > 0 and summary["mfu"] is None  # no known peak for a CPU
    assert all("tok_s_per_device" in p and "mfu" in p for p in _curve(ddp_run))

    # one process, the same two micro-batches of 4 (gradient accumulation): identical weights
    one = train(TrainConfig(**_config(tiny_corpus, tmp_path / "one")))
    assert one["world_size"] == 1 and one["accumulation_steps"] == 2
    a, b = _weights(ddp_run), _weights(tmp_path / "one")
    assert all(torch.equal(a[k], b[k]) for k in a)
    _assert_same_curve(ddp_run, tmp_path / "one", loss_tol=1e-5)

    # one process, all 8 rows in one pass: the same run up to float rounding
    whole = train(TrainConfig(**_config(tiny_corpus, tmp_path / "whole", micro_batch_size=None)))
    assert whole["accumulation_steps"] == 1 and whole["micro_batch_size"] == 8
    c = _weights(tmp_path / "whole")
    assert max((a[k] - c[k]).abs().max().item() for k in a) < 1e-4
    _assert_same_curve(ddp_run, tmp_path / "whole", loss_tol=1e-4)


def test_two_rank_checkpoint_resumes_on_one_rank(ddp_run, tiny_corpus, tmp_path):
    run = tmp_path / "resumed"
    shutil.copytree(ddp_run, run)
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["step-00000030", "step-00000035"]  # keep_checkpoints=2
    # make it look interrupted after step 30: no final model, no summary, no newer checkpoint
    shutil.rmtree(run / "final")
    shutil.rmtree(run / "checkpoints" / "step-00000035")
    (run / "summary.json").unlink()
    assert json.loads((run / "checkpoints" / "step-00000030" / "state.json").read_text())["world_size"] == 2
    summary = train(TrainConfig(**_config(tiny_corpus, run)))
    assert summary["resumed_from_step"] == 30 and summary["world_size"] == 1
    a, b = _weights(ddp_run), _weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)
    _assert_same_curve(ddp_run, run, loss_tol=1e-5)


def _children(pid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _rank_of(pid: int) -> int | None:
    try:
        env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_kill_9_one_rank_restarts_and_resumes(ddp_run, tiny_corpus, tmp_path):
    cfg = _config(tiny_corpus, tmp_path / "killed")
    proc = _torchrun(tmp_path, cfg, max_restarts=1)
    ckpts = Path(cfg["output"]) / "checkpoints"
    victim = None
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            if any(ckpts.glob("step-*[0-9]")):  # a checkpoint is committed: the run is past step 5, before 40
                victim = next((c for c in _children(proc.pid) if _rank_of(c) == 1), None)
                if victim:
                    os.kill(victim, signal.SIGSTOP)  # freeze it mid-run, then kill -9
                    break
            time.sleep(0.01)
        assert victim is not None, f"rank 1 not found after the first checkpoint (torchrun exit {proc.poll()})"
        assert not (Path(cfg["output"]) / "summary.json").exists()
        os.kill(victim, signal.SIGKILL)
        out = _finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out[-3000:]
    summary = json.loads((Path(cfg["output"]) / "summary.json").read_text())
    assert summary["restarts"] == 1 and summary["resumed_from_step"] >= 5
    a, b = _weights(ddp_run), _weights(Path(cfg["output"]))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the restart changed nothing in what was learned


def test_fsdp2_on_cpu_gloo_and_its_sharded_checkpoint_resumes_on_one_rank(ddp_run, tiny_corpus, tmp_path):
    run = _run_ok(tmp_path, _config(tiny_corpus, tmp_path / "fsdp", parallel="fsdp"))
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["world_size"], summary["parallel"]) == (2, "fsdp")
    # FSDP reduce-scatters the gradients and updates each rank's shard: same run as DDP up to rounding
    a, b = _weights(ddp_run), _weights(run)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    _assert_same_curve(ddp_run, run, loss_tol=1e-4)
    ckpt = run / "checkpoints" / "step-00000035"
    assert sorted(p.name for p in (ckpt / "dcp").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    sharded_weights = _weights(run, "checkpoints/step-00000035")  # load_checkpoint opens a sharded folder
    assert set(sharded_weights) == set(b)

    shutil.rmtree(run / "final")
    (run / "summary.json").unlink()
    resumed = train(TrainConfig(**_config(tiny_corpus, run, parallel="fsdp")))
    assert resumed["resumed_from_step"] == 35 and resumed["parallel"] == "none"
    c = _weights(run)
    assert max((b[k] - c[k]).abs().max().item() for k in b) < 1e-5


def test_world_size_that_does_not_divide_the_batch_is_one_line(tiny_corpus, tmp_path):
    proc = _torchrun(tmp_path, _config(tiny_corpus, tmp_path / "bad", batch_size=7, micro_batch_size=None))
    out = _finish(proc)
    assert proc.returncode != 0
    assert "error: batch_size 7 is not divisible by the world size 2" in out
    assert "rephraser/" not in out.split("error: batch_size")[0]  # no Python traceback from our code


def test_accumulation_rules_and_bad_inputs(tiny_corpus, tmp_path):
    cfg = TrainConfig(data="x", batch_size=512, micro_batch_size=4)
    assert accumulation(cfg, 64) == (4, 2)  # the study: 512 x 4096 tokens per step on 64 GPUs
    assert accumulation(cfg, 8) == (4, 16)
    assert accumulation(TrainConfig(data="x", batch_size=512), 8) == (64, 1)
    with pytest.raises(ConfigError, match="not divisible by the world size 3"):
        accumulation(cfg, 3)
    with pytest.raises(ConfigError, match="micro_batch_size 3 does not divide the 64 sequences"):
        accumulation(TrainConfig(data="x", batch_size=512, micro_batch_size=3), 8)
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        train(TrainConfig(**_config(tiny_corpus, tmp_path / "p", preset="huge")))
