"""Peak memory of `rephraser mix` at two input sizes: it should not grow with the input.

Builds a rephraser output folder (data/faq/*.parquet, status=ok rows) holding --gb GB of generation
text (and a quarter of that, for comparison), then mixes each with the embedded wiki extracts (70/30)
into the same --tokens budget, each mix in a fresh process, and reports the child's peak RSS
(getrusage ru_maxrss) and wall time. The text repeats a small pool of sentences, so the files are
small on disk (zstd) while decoding still produces the full number of bytes; `df -h` first.

    .venv/bin/python bench/bench_mix_memory.py [--gb 10] [--tokens 50000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from rephraser.records import ROW_SCHEMA

DOC_BYTES = 3000  # ≈ a FineWeb-Edu document
ROWS_PER_FILE = 20_000
SENTENCES = [f"Sentence {k} of the pool talks about rivers, valleys and {k * 37 % 101} old bridges. " for k in range(997)]


def _pool() -> pa.Array:
    """2,000 distinct documents of ≈DOC_BYTES bytes each, made of sentences of a small pool."""
    texts = []
    for i in range(2000):
        parts, n, k = [], 0, i
        while n < DOC_BYTES:
            s = SENTENCES[k % len(SENTENCES)]
            parts.append(s)
            n += len(s)
            k = k * 31 + 7
        texts.append("".join(parts))
    return pa.array(texts)


def _file(path: Path, pool: pa.Array, first: int, rows: int) -> int:
    pick = pa.array([(i * 7919) % len(pool) for i in range(first, first + rows)], pa.int64())
    texts = pool.take(pick)
    cols = {name: pa.nulls(rows, field.type) for name, field in zip(ROW_SCHEMA.names, ROW_SCHEMA, strict=True)}
    cols.update(id=pa.array([f"doc-{i:09d}" for i in range(first, first + rows)]),
                sample=pa.array([0] * rows, pa.int32()), prompt=pa.array(["faq"] * rows),
                status=pa.array(["ok"] * rows), generation=texts)
    pq.write_table(pa.table(cols, schema=ROW_SCHEMA), path, compression="zstd")
    return int(pa.compute.sum(pa.compute.binary_length(texts)).as_py())


def build(root: Path, gb: float) -> tuple[int, int]:
    (root / "data" / "faq").mkdir(parents=True)
    (root / "manifests").mkdir()
    target, total, docs, k = gb * 1e9, 0, 0, 0
    pool = _pool()
    while total < target:
        total += _file(root / "data" / "faq" / f"s00000-of-00001-part-{k:05d}.parquet", pool, docs, ROWS_PER_FILE)
        docs += ROWS_PER_FILE
        k += 1
    return total, docs


CHILD = """
import json, resource, sys, time
from rephraser.mix.config import MixComponent, MixConfig
from rephraser.mix.mixer import run_mix
src, out, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
m = run_mix(MixConfig(components=[MixComponent(path=src, weight=0.7), MixComponent(path="wiki", weight=0.3)],
                      tokens=tokens, output=out))
print(json.dumps({"seconds": time.perf_counter() - t, "documents": m["documents"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=10.0, help="text in the large input (GB of UTF-8)")
    ap.add_argument("--tokens", type=int, default=50_000_000, help="mixture budget (bytes/4 tokens)")
    ap.add_argument("--dir", default=None, help="where to build the inputs (default: a temp folder)")
    args = ap.parse_args()
    print(shutil.disk_usage(args.dir or tempfile.gettempdir()))
    results = []
    for gb in (args.gb / 4, args.gb):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            t = time.perf_counter()
            text, docs = build(Path(tmp) / "run", gb)
            disk = sum(p.stat().st_size for p in (Path(tmp) / "run").rglob("*.parquet"))
            print(f"input {text / 1e9:.1f} GB of text in {docs:,} documents ({disk / 1e9:.2f} GB on disk), "
                  f"built in {time.perf_counter() - t:.0f} s")
            p = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "run"), str(Path(tmp) / "mix"),
                                str(args.tokens)], capture_output=True, text=True, check=True)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            results.append((text, docs, r))
            print(f"  mix of {args.tokens:,} tokens: {r['seconds']:.0f} s, {r['documents']:,} rows, "
                  f"peak RSS {r['rss_mb']:.0f} MB")
    (small, sdocs, rs), (large, ldocs, rl) = results
    print(f"\ninput x{large / small:.1f} ({small / 1e9:.1f} -> {large / 1e9:.1f} GB): peak RSS x{rl['rss_mb'] / rs['rss_mb']:.2f} "
          f"({rs['rss_mb']:.0f} -> {rl['rss_mb']:.0f} MB; +{(rl['rss_mb'] - rs['rss_mb']) * 2**20 / (ldocs - sdocs):.0f} "
          f"bytes per extra input document)")


if __name__ == "__main__":
    main()
