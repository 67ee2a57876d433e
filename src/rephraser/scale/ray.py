"""Run a job's shards as Ray tasks: one task = one shard = one engine replica.

Each task calls the ordinary single-shard runner (`run_config`) on shard i of N. Because a shard's
output is committed atomically with a manifest and its calls are cached, a task whose worker dies
(node lost, OOM-killed, preempted) is simply run again by Ray (`max_retries`) and resumes where the
dead one last committed; documents are neither lost nor written twice.

Resources: a vLLM engine claims `tensor_parallel_size` GPUs per task, so Ray places one replica per
GPU (or per TP group); CPU engines claim their threads. Ray is imported lazily: `pip install
"rephraser[ray]"`.
"""

from __future__ import annotations

import time
from typing import Any

from rephraser.config import RunConfig, validate
from rephraser.engines import engine_spec
from rephraser.errors import RephraserError
from rephraser.generate.runner import run_config

INSTALL_HINT = 'Ray is not installed: run `pip install "rephraser[ray]"`'
TASK_NAME = "rephraser_shard"  # the worker's process title while it runs is "ray::rephraser_shard"


def shard_config(cfg: RunConfig, index: int, count: int) -> RunConfig:
    """A copy of cfg restricted to shard `index` of `count` (validated like any config)."""
    data = cfg.model_dump(mode="json")
    data["source"]["shard_index"] = index
    data["source"]["shard_count"] = count
    return validate(data, origin=f"shard {index}/{count}")


def task_resources(cfg: RunConfig) -> dict[str, float]:
    """What one replica needs (the engine's spec says: GPUs for in-process vLLM, CPU threads for llama.cpp)."""
    return engine_spec(cfg.engine.kind).resources(cfg.engine)


def engine_gpus(cfg: RunConfig) -> int:
    """GPUs one replica of the run's engine needs (a Slurm task asks for exactly these; 0 = none at all)."""
    return int(task_resources(cfg)["num_gpus"])


def cluster_slots(cluster: dict[str, float], per_task: dict[str, float]) -> int:
    """How many replicas fit on the cluster at once (the default shard count)."""
    gpus, cpus = per_task.get("num_gpus", 0.0), per_task.get("num_cpus", 1.0)
    if gpus > 0:
        slots = int(cluster.get("GPU", 0) // gpus)
        if slots < 1:
            raise RephraserError(f"the Ray cluster has {cluster.get('GPU', 0):g} GPUs; one replica needs {gpus:g}")
        return slots
    return max(1, int(cluster.get("CPU", 1) // max(cpus, 1e-9)))


def rephraser_shard(cfg_data: dict[str, Any], retry_failed: bool = False) -> dict[str, Any]:
    # Runs inside a Ray worker process: rebuild the config there; plain data travels well both ways.
    cfg = validate(cfg_data, origin="ray task")
    # A retry of a task whose worker died on another node finds that worker's lease until it goes stale.
    return run_config(cfg, force=False, progress=False, retry_failed=retry_failed,
                      lease_wait_s=2 * cfg.output.lease_ttl_s).to_json()


def run_on_ray(
    cfg: RunConfig,
    address: str,
    num_shards: int | None,
    max_retries: int = 3,
    *,
    resources: dict[str, float] | None = None,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Run shards 0..num_shards-1 of cfg as Ray tasks and wait for all of them.

    num_shards=None: one shard per replica slot the cluster has (GPUs / GPUs per replica, or CPUs).

    address: "auto" (the cluster this node belongs to), "ray://host:10001", "host:6379", or
    "local" (start a private single-machine cluster). If Ray is already initialised in this process
    that connection is used. A shard whose worker dies is retried up to `max_retries` times and
    resumes from its last committed part; an error raised by the runner itself (bad config, failure
    budget exceeded) is not retried. Raises RephraserError naming every shard that did not finish.
    Returns {"num_shards", "wall_s", "shards": {i: stats JSON}}; the merged statistics are in OUT/stats.json.
    """
    if num_shards is not None and num_shards < 1:
        raise RephraserError(f"num_shards must be >= 1, got {num_shards}")
    try:
        import ray
    except ImportError:
        raise RephraserError(INSTALL_HINT) from None

    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise RephraserError(f"cannot connect to Ray at {address!r}: {str(e).splitlines()[0]}") from None
    opts = resources if resources is not None else task_resources(cfg)
    if num_shards is None:
        num_shards = cluster_slots(ray.cluster_resources(), opts)
    configs = {i: shard_config(cfg, i, num_shards) for i in range(num_shards)}
    remote = ray.remote(rephraser_shard).options(name=TASK_NAME, max_retries=max_retries, retry_exceptions=False, **opts)
    start = time.monotonic()
    refs = {i: remote.remote(c.model_dump(mode="json"), retry_failed) for i, c in configs.items()}
    results: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    for i, ref in refs.items():
        try:
            results[i] = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # the runner raised: report its own message
            cause = e.cause if getattr(e, "cause", None) is not None else e
            failed[i] = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
        except ray.exceptions.RayError as e:  # worker/node lost more often than max_retries
            failed[i] = f"{type(e).__name__} after {max_retries} retries"
    wall = time.monotonic() - start
    if failed:
        detail = "; ".join(f"shard {i}: {msg}" for i, msg in sorted(failed.items()))
        raise RephraserError(
            f"{len(failed)} of {num_shards} shards did not finish ({detail}); run again to resume them"
        )
    return {"num_shards": num_shards, "wall_s": wall, "shards": results}
