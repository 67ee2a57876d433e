"""Grid executors: the same tiny grid (fake OpenAI server, tiny-1m proxy, quick eval on few items) run by the
local executor, by the Slurm executor's job scripts executed here in dependency order, by the real local
Slurm cluster, and on a local Ray cluster must give the same results table. The local executor trains in
one process; the others launch every train stage as a 2-rank torchrun (gloo) job.

Generation keeps one request in flight, so rows are committed in input order and every executor writes
byte-identical generation folders (the mixer's pick depends on row order; see the README).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ECHO_PROMPT as ECHO
from helpers import real_slurm_missing, spawn_fake

RUNNER = f"{sys.executable} -m rephraser.cli"
COMPARED = ("cell", "seed", "data_seed", "macro", "micro", "heldout_bpb", "gen_tokens", "compliance", "train_tokens",
            "mix_heldout_bpb")


def cli(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", *args], capture_output=True, text=True, timeout=900,
                       cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and p.returncode != 0:
        raise AssertionError(f"rephraser {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="module")
def fake_url():
    proc, port = spawn_fake()
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def tiny_grid(folder: Path, url: str, **cluster) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as f:
        for i in range(40):
            words = " ".join(f"word{(i * 7 + j) % 97}" for j in range(30 + i % 30))
            f.write(json.dumps({"id": f"doc-{i:05d}", "text": f"Document {i} says {i * 3} apples. {words}."}) + "\n")
    cfg = {
        "name": "tiny",
        "output": str(folder / "out"),
        "prompts": [ECHO],
        "generators": {"fake": {"engine": {"kind": "openai", "base_url": url, "model": "fake-model"}}},
        "sources": {"docs": {"source": {"path": str(corpus)}, "rephrase_docs": 24}},
        "generation": {"sampling": {"max_tokens": 48}, "max_in_flight": 1, "shards": 2},
        "mix": {"ratios": [0.5], "tokens": 12000},
        "seeds": [0],
        "tokenizer": {"vocab_size": 300},
        # 2 micro-batches of 2: one process accumulating them equals 2 torchrun (gloo) ranks bit for bit
        "train": {"preset": "tiny-1m", "steps": 3, "batch_size": 4, "micro_batch_size": 2, "seq_len": 32,
                  "eval_every": 3, "log_every": 3, "threads": 1},
        "eval": {"tasks": ["arc_easy"], "max_items": 3, "num_fewshot": 0, "heldout_docs": 10, "heldout_fraction": 0.1},
        "cluster": {"gpus_per_node": 0, "retries": 1, "cpu_train_ranks": 2, "python": sys.executable,
                    "slurm": {"rephraser": RUNNER}, **cluster},
    }
    p = folder / "grid.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


def _one_node_allocation(bin_dir: Path) -> dict[str, str]:
    """What a one-node Slurm allocation gives a batch script: its node list, `scontrol show hostnames`, and an
    `srun` that starts its command once on that node (here: runs it)."""
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text('#!/usr/bin/env bash\necho localhost\n')
    (bin_dir / "srun").write_text('#!/usr/bin/env bash\nwhile [[ $1 == --* ]]; do shift; done\nexec "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": "1"}


def results(out: Path) -> list[dict]:
    rows = json.loads((out / "results.json").read_text())["rows"]
    return sorted(({k: r.get(k) for k in COMPARED} for r in rows), key=lambda r: r["cell"])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, fake_url) -> tuple[list[dict], str]:
    """The tiny grid on the local executor: its results rows and what it printed."""
    grid = tiny_grid(tmp_path_factory.mktemp("local"), fake_url)
    printed = cli("experiment", "run", str(grid)).stdout
    rows = results(grid.parent / "out")
    assert [r["cell"] for r in rows] == ["baseline-source_only", "echo/mix50"] and all(r["macro"] for r in rows)
    return rows, printed


@pytest.fixture(scope="module")
def local_results(local_run) -> list[dict]:
    return local_run[0]


def test_local_executor_runs_stages_in_cell_order_and_says_so(local_run):
    """The local executor's order and words (pinned: a refactor of the executor seam keeps both). Stage keys
    (the fake server's port is in the generate spec), timings, losses and speeds vary and are masked."""
    printed = local_run[1]
    head = printed[:printed.index("\n", printed.index("stages run:")) + 1]
    keys: dict[str, str] = {}

    def mask_key(m: re.Match) -> str:
        return keys.setdefault(m.group(0), f"<key{len(keys)}>")

    masked = re.sub(r"\b[0-9a-f]{16}\b", mask_key, head)
    masked = re.sub(r"(done in|loss|bpb|macro) [0-9.]+", r"\1 <n>", masked.replace(ECHO, "<echo>"))
    masked = re.sub(r"[0-9,.]+ tok/s", "<n> tok/s", masked)
    masked = re.sub(r"-> \S+", "-> <dir>", masked)
    assert masked == LOCAL_ORDER, masked


LOCAL_ORDER = """\
[1/2] cell baseline-source_only
  source: 37 training / 3 held-out documents
  source <key0> done in <n>s
  tokenizer: BPE with 300 tokens trained on 37 source documents
  tokenizer <key1> done in <n>s
  mix: 12,000 tokens from original
  mix <key2> done in <n>s
  tokenize <key3> done in <n>s
  train: tiny-1m, seed 0, data seed 0 -> <dir>
  train: step 3/3, loss <n>, <n> tok/s
  train <key4> done in <n>s
  evaluate: macro <n>
  evaluate <key5> done in <n>s
[2/2] cell echo/mix50
  generate: <echo> with fake-model (openai), shard 0/2 -> <dir>
  generate: <echo> with fake-model (openai), shard 1/2 -> <dir>
  generate <key6> done in <n>s
  mix: 12,000 tokens from synthetic, original
  mix <key7> done in <n>s
  tokenize <key8> done in <n>s
  train: tiny-1m, seed 0, data seed 0 -> <dir>
  train: step 3/3, loss <n>, <n> tok/s
  train <key9> done in <n>s
  evaluate: macro <n>
  evaluate <key10> done in <n>s
stages run: 11, already done: 2
"""


def test_slurm_executor_writes_afterok_chains_arrays_and_torchrun_jobs(tmp_path, fake_url):
    """What `--executor slurm --no-submit` writes: generation as an array plus a finish job, training as
    `srun torchrun`, afterok chains, absolute logs and --chdir, and no GPU request for an HTTP engine on CPU."""
    grid = tiny_grid(tmp_path, fake_url)
    out = tmp_path / "out"
    written = cli("experiment", "run", str(grid), "--executor", "slurm", "--no-submit", cwd=tmp_path)
    assert "submit with: bash" in written.stdout and not (out / "slurm" / "jobs.tsv").exists()
    plan = json.loads((out / "slurm" / "plan.json").read_text())
    kinds = [p["kind"] for p in plan]
    assert kinds[:2] == ["source", "tokenizer"] and kinds[-1] == "results"
    assert kinds.count("train") == 2 and kinds.count("evaluate") == 2
    shards = next(p for p in plan if p["array"])
    assert shards["array"] == 2 and "--array=0-1" in Path(shards["script"]).read_text()
    train = Path(next(p for p in plan if p["kind"] == "train")["script"]).read_text()
    assert "srun --nodes=1 --ntasks-per-node=1 --kill-on-bad-exit=1" in train and "--nproc-per-node 2" in train
    logs = (out / "slurm" / "logs").resolve()
    for job in plan:
        text = Path(job["script"]).read_text()
        assert f"#SBATCH --chdir={tmp_path.resolve()}" in text and f"#SBATCH --output={logs}/" in text, job
        assert "--gres" not in text and "--gpus" not in text, job
    submit = (out / "slurm" / "submit.sh").read_text()
    keys = [p["key"] for p in plan]
    for job in plan:  # every upstream job is submitted before it and named in its afterok
        assert all(keys.index(d) < keys.index(job["key"]) for d in job["deps"]), job
        if job["deps"] and job["kind"] != "results":
            line = next(x for x in submit.splitlines() if f"submit {job['key']} " in x)
            assert "afterok:" + ":".join(f"$J_{d.replace(':shards', '_s')}" for d in job["deps"]) in line, line


@pytest.mark.skipif(real_slurm_missing() is None, reason="the real local Slurm cluster runs these job scripts "
                    "(test_small_grid_dispatched_to_a_real_slurm_cluster)")
def test_slurm_job_scripts_run_in_dependency_order_match_the_local_executor(tmp_path, fake_url, local_results):
    """Where the real local Slurm cannot run (not root): the job scripts run here in submit order, array tasks
    with their task ids, `srun`/`scontrol` stand-ins for a one-node allocation, from another folder."""
    grid = tiny_grid(tmp_path, fake_url)
    out = tmp_path / "out"
    cli("experiment", "run", str(grid), "--executor", "slurm", "--no-submit", cwd=tmp_path)
    plan = json.loads((out / "slurm" / "plan.json").read_text())
    done: set[str] = set()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    allocation = _one_node_allocation(tmp_path / "bin")
    for job in plan:  # in submit order: every upstream job has run
        assert set(job["deps"]) <= done, job
        for task in range(job["array"] or 1):
            env = {**os.environ, **allocation, **({"SLURM_ARRAY_TASK_ID": str(task)} if job["array"] else {})}
            r = subprocess.run(["bash", job["script"]], capture_output=True, text=True, env=env, cwd=elsewhere)
            assert r.returncode == 0, f"{job['script']}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        done.add(job["key"])
    assert results(out) == local_results
    status = json.loads(cli("experiment", "status", str(grid), "--json").stdout)
    assert {s["state"] for s in status} == {"done"}


def test_small_grid_dispatched_to_a_real_slurm_cluster(slurm_cluster, tmp_path, fake_url, local_results):
    """Every stage an sbatch job on the local cluster (2 CPUs): dependencies as afterok, the two cells'
    chains and the two generation shards free to run side by side."""
    grid = tiny_grid(tmp_path, fake_url)
    out = tmp_path / "out"
    r = cli("experiment", "run", str(grid), "--executor", "slurm", cwd=tmp_path)
    assert "submitted 11 stage jobs + results" in r.stdout, r.stdout
    jobs = dict(line.split("\t")[:2] for line in (out / "slurm" / "jobs.tsv").read_text().splitlines())
    slurm_cluster.track(*jobs.values())
    early = json.loads(cli("experiment", "status", str(grid), "--json").stdout)
    assert {s["state"] for s in early} <= {"pending", "running", "done"} and "pending" in {s["state"] for s in early}
    assert slurm_cluster.wait_finished(jobs["results"], timeout=600) == {jobs["results"]: "COMPLETED"}
    for key, job in jobs.items():
        assert set(slurm_cluster.states(job).values()) == {"COMPLETED"}, key
    assert results(out) == local_results
    status = json.loads(cli("experiment", "status", str(grid), "--json").stdout)
    assert {s["state"] for s in status} == {"done"} and all(s["where"].startswith("slurm ") for s in status)
    again = cli("experiment", "run", str(grid), "--executor", "slurm", cwd=tmp_path)  # resume: nothing left
    assert "submitted 0 stage jobs" in again.stdout
    slurm_cluster.track(*(line.split("\t")[1] for line in (out / "slurm" / "jobs.tsv").read_text().splitlines()))


@pytest.mark.slow  # 47 s of real Slurm; failed-stage status is also covered locally (test_status_names_failed_stages_and_their_logs) and on Slurm by tests/scale/test_slurm_cluster.py
def test_failed_stage_on_slurm_is_named_and_a_rerun_finishes_the_grid(slurm_cluster, tmp_path, fake_url,
                                                                       local_results):
    """On the real local Slurm: a training job that fails (its interpreter does not exist, retries 0) cancels
    only its dependents; `status` names the failed stage and its log; after the fix (cluster settings are in
    no key) the same command submits only what is left, and the grid finishes with the local results."""
    grid = tiny_grid(tmp_path, fake_url, retries=0, python="/nonexistent/python3")
    out = tmp_path / "out"
    first = cli("experiment", "run", str(grid), "--executor", "slurm", "--only", "baseline*", cwd=tmp_path)
    assert "submitted 6 stage jobs + results" in first.stdout, first.stdout
    jobs = dict(line.split("\t")[:2] for line in (out / "slurm" / "jobs.tsv").read_text().splitlines())
    slurm_cluster.track(*jobs.values())
    slurm_cluster.wait_finished(jobs["results"], timeout=600)  # afterany: it runs once the evaluation is cancelled
    rows = {s["kind"]: s for s in json.loads(cli("experiment", "status", str(grid), "--json").stdout)
            if s["cells"] == ["baseline-source_only"] or s["kind"] in ("source", "tokenizer")}
    assert {k: rows[k]["state"] for k in ("source", "tokenizer", "mix", "tokenize")} == dict.fromkeys(
        ("source", "tokenizer", "mix", "tokenize"), "done")
    train, evaluate = rows["train"], rows["evaluate"]
    assert train["state"] == "failed" and "FAILED" in train["detail"], train
    assert "/nonexistent/python3" in Path(train["log"]).read_text(), train
    assert evaluate["state"] == "failed" and "CANCELLED" in evaluate["detail"], evaluate

    cfg = yaml.safe_load(grid.read_text())
    cfg["cluster"]["python"] = sys.executable
    grid.write_text(yaml.safe_dump(cfg))
    again = cli("experiment", "run", str(grid), "--executor", "slurm", "--only", "baseline*", cwd=tmp_path)
    assert "submitted 2 stage jobs + results" in again.stdout, again.stdout
    jobs = dict(line.split("\t")[:2] for line in (out / "slurm" / "jobs.tsv").read_text().splitlines())
    slurm_cluster.track(*jobs.values())
    assert slurm_cluster.wait_finished(jobs["results"], timeout=600) == {jobs["results"]: "COMPLETED"}
    assert results(out) == [r for r in local_results if r["cell"] == "baseline-source_only"]
    status = json.loads(cli("experiment", "status", str(grid), "--json").stdout)
    assert all(s["state"] == "done" for s in status if "baseline-source_only" in s["cells"])


def test_small_grid_on_a_local_ray_cluster(tmp_path, fake_url, local_results):
    pytest.importorskip("ray")
    grid = tiny_grid(tmp_path, fake_url, ray={"address": "local"})
    out = tmp_path / "out"
    cli("experiment", "run", str(grid), "--executor", "ray", cwd=tmp_path)
    assert results(out) == local_results
    state = json.loads((out / "ray" / "state.json").read_text())
    assert {v["state"] for v in state.values()} == {"done"}
    assert sum(v["kind"] == "generate shard" for v in state.values()) == 2  # the generation ran as 2 Ray tasks
    status = json.loads(cli("experiment", "status", str(grid), "--json").stdout)
    assert {s["state"] for s in status} == {"done"}


def test_decay_branch_starts_from_the_trunk_checkpoint(tmp_path, fake_url):
    """A decay ablation end to end (local executor): the trunk keeps its step-4 checkpoint, the branch
    loads it and trains only steps 5-6 on its own mixture, with the learning rate decaying over them."""
    grid = tiny_grid(tmp_path, fake_url)
    cfg = yaml.safe_load(grid.read_text())
    cfg["train"]["steps"] = 6
    cfg["decay"] = [{"cells": ["echo/*"], "from": "baseline-source_only", "at_step": 4, "steps": 2}]
    grid.write_text(yaml.safe_dump(cfg))
    cli("experiment", "run", str(grid))
    out = tmp_path / "out"
    markers = [json.loads(p.read_text()) for p in (out / "stages" / "train").glob("*/stage.json")]
    branch = next(m for m in markers if "decay" in m["spec"])
    trunk = next(m for m in markers if "decay" not in m["spec"])
    assert branch["outputs"]["resumed_from_step"] == 4 and branch["outputs"]["steps"] == 6
    trunk_dir = out / "stages" / "train" / trunk["key"]
    assert (trunk_dir / "checkpoints" / "step-00000004").is_dir()
    curve = [json.loads(line) for line in (out / "stages" / "train" / branch["key"] / "curve.jsonl").open()]
    assert [p["step"] for p in curve] == [6] and curve[0]["lr"] < cfg["train"].get("lr", 5e-4)
    rows = results(out)
    assert [r["cell"] for r in rows] == ["baseline-source_only", "echo/mix50"] and all(r["macro"] for r in rows)


def test_status_names_failed_stages_and_their_logs(tmp_path, fake_url):
    """A stage whose Slurm job failed (squeue says so) is `failed` with the job's log; one squeue has
    forgotten is `failed` too (no marker); one never submitted is `pending` ("not started")."""
    grid = tiny_grid(tmp_path, fake_url)
    out = tmp_path / "out"
    cli("experiment", "run", str(grid), "--executor", "slurm", "--no-submit", cwd=tmp_path)
    plan = json.loads((out / "slurm" / "plan.json").read_text())
    source, tokenizer = plan[0]["key"], plan[1]["key"]
    (out / "slurm" / "jobs.tsv").write_text(f"{source}\t101\tx.sbatch\n{tokenizer}\t102\ty.sbatch\n")
    log = out / "slurm" / "logs" / f"source-{source}-101.out"
    log.write_text("error: something\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/usr/bin/env bash\necho '101|FAILED'\n")
    (bin_dir / "squeue").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = subprocess.run([sys.executable, "-m", "rephraser.cli", "experiment", "status", str(grid), "--json"],
                       capture_output=True, text=True, env=env, check=True)
    rows = {s["key"]: s for s in json.loads(r.stdout)}
    assert rows[source]["state"] == "failed" and rows[source]["log"] == str(log) and rows[source]["where"] == "slurm 101"
    assert rows[tokenizer]["state"] == "failed" and "no longer known to Slurm" in rows[tokenizer]["detail"]
    others = [rows[k] for k in rows if k not in (source, tokenizer)]
    assert {(r["state"], r["detail"]) for r in others} == {("pending", "not started")}
