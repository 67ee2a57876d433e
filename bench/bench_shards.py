"""Per-shard input read time for N = 1, 4, 16 shards: does a shard cost 1/N of the input?

Writes a 1M-document Parquet input twice — one file of 100 row groups (read by `row_groups`
sharding) and a folder of 64 files (read by `files` sharding) — then, for each N, reads every shard's
records with iter_source (reading + validation, what a run does before any model call) and times
each shard. A shard's cost is its CPU time (the work is CPU-bound decoding and validation; CPU time,
unlike wall time, does not swing with other jobs on a shared machine); wall time is printed too.
Efficiency at N = (cost of the 1-shard read / N) / (costliest shard); 1.0 is ideal, the target is
>= 0.8 at N = 16. For contrast it times one shard of `hash` sharding, which reads everything and
keeps 1/N.

    .venv/bin/python bench/bench_shards.py [--docs 1000000] [--shards 1,4,16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rephraser.config import SourceConfig
from rephraser.sources import iter_source
from rephraser.sources.sharding import plan_shards

WORDS = ["river", "valley", "bridge", "hill", "town", "market", "school", "garden", "winter", "summer", "north", "south", "light", "stone", "water", "field", "forest", "road", "tower", "harbour"]


def _table(start: int, n: int) -> pa.Table:
    texts = [f"Document {i}. " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(40 + i % 30))
             for i in range(start, start + n)]
    return pa.table({"id": [f"doc-{i:08d}" for i in range(start, start + n)], "text": texts,
                     "url": [f"https://example.org/{i}" for i in range(start, start + n)]})


def _write(root: Path, docs: int) -> tuple[Path, Path]:
    one = root / "one.parquet"
    many = root / "many"
    many.mkdir()
    per_file = docs // 64
    with pq.ParquetWriter(one, _table(0, 1).schema) as w:
        for start in range(0, docs, per_file):
            t = _table(start, min(per_file, docs - start))
            w.write_table(t, row_group_size=docs // 100)
            pq.write_table(t, many / f"part-{start // per_file:03d}.parquet", row_group_size=docs // 100)
    return one, many


def _read(cfg: SourceConfig, plan) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, records) of one shard's read."""
    c, t = time.process_time(), time.perf_counter()
    n = sum(1 for _ in iter_source(cfg, plan=plan))
    return time.process_time() - c, time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shards", default="1,4,16")
    args = ap.parse_args()
    counts = [int(x) for x in args.shards.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        one, many = _write(Path(tmp), args.docs)
        print(f"input: {args.docs:,} documents, written in {time.perf_counter() - t0:.0f} s "
              f"({one.stat().st_size / 1e6:.0f} MB as one file of 100 row groups, and as 64 files)")
        for label, path, mode in (("one file, row_groups", one, "row_groups"), ("64 files, files", many, "files")):
            print(f"\n{label}:")
            _read(SourceConfig(path=str(path)), None)  # warm-up: imports, page cache
            base = None
            for n in counts:
                cfgs = [SourceConfig(path=str(path), shard_index=k, shard_count=n, sharding=mode) for k in range(n)]
                tp = time.perf_counter()
                plan = plan_shards(cfgs[0])
                plan_s = time.perf_counter() - tp
                cpu, wall, docs = zip(*(_read(c, plan) for c in cfgs), strict=True)
                assert sum(docs) == args.docs, (sum(docs), args.docs)
                if base is None:  # the 1-shard read
                    base = cpu[0]
                ideal = base / n
                print(f"  N={n:>2}: CPU per shard mean {sum(cpu) / n:6.2f} s, max {max(cpu):6.2f} s, ideal "
                      f"{ideal:6.2f} s -> efficiency {ideal / max(cpu):.2f} (mean {ideal / (sum(cpu) / n):.2f}); "
                      f"wall max {max(wall):6.2f} s; plan {plan_s * 1000:.0f} ms")
            n = counts[-1]
            cfg = SourceConfig(path=str(path), shard_index=0, shard_count=n, sharding="hash")
            hash_cpu, _, kept = _read(cfg, plan_shards(cfg))
            print(f"  hash sharding, N={n}: one shard {hash_cpu:6.2f} s CPU for {kept:,} records "
                  f"({hash_cpu / base:.2f}x the whole input: every shard reads everything)")


if __name__ == "__main__":
    main()
