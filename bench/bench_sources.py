"""Source reading throughput, as ratios (machine load cancels out).

Writes the embedded wiki extracts (10,033 docs, repeated) as JSONL / .gz / .zst / Parquet into a temp
folder and reads each with iter_source. Prints docs/s and each format's time relative to the bare
floor of reading the plain file with `json.loads` per line (no validation, no sharding).

    .venv/bin/python bench/bench_sources.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from rephraser.config import SourceConfig
from rephraser.sources import iter_source


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5, help="copies of the wiki corpus (10,033 docs each)")
    args = ap.parse_args()
    wiki = list(iter_source(SourceConfig()))
    records = [
        {"id": f"{k}/{d.id}", "text": d.text, **d.metadata} for k in range(args.repeat) for d in wiki
    ]
    payload = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    n = len(records)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "p.jsonl").write_bytes(payload)
        (root / "g.jsonl.gz").write_bytes(gzip.compress(payload, compresslevel=6))
        (root / "z.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(payload))
        pq.write_table(pa.Table.from_pylist(records), root / "t.parquet", row_group_size=10_000)

        def floor() -> None:
            with open(root / "p.jsonl", "rb") as fh:
                for line in fh:
                    json.loads(line)

        base = min(_timed(floor) for _ in range(2))
        print(f"{n:,} docs, {len(payload) / 1e6:.1f} MB JSONL; floor json.loads: {n / base:,.0f} docs/s")
        for name in ("p.jsonl", "g.jsonl.gz", "z.jsonl.zst", "t.parquet"):
            cfg = SourceConfig(path=str(root / name))
            t = min(_timed(lambda cfg=cfg: sum(1 for _ in iter_source(cfg))) for _ in range(2))
            print(f"{name:12s} {n / t:>10,.0f} docs/s   {t / base:5.2f}x floor")
        cfg = SourceConfig(path=str(root / "p.jsonl"), shard_index=0, shard_count=8)
        t = min(_timed(lambda: sum(1 for _ in iter_source(cfg))) for _ in range(2))
        print(f"{'shard 1/8':12s} {n / t:>10,.0f} docs/s read  {t / base:5.2f}x floor (reads everything, keeps 1/8)")


if __name__ == "__main__":
    main()
