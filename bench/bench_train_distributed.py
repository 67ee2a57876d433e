"""Data-parallel scaling on CPU: `torchrun` with 2 gloo processes vs 1 process, same global batch.

Three runs of `rephraser train` on the same data, preset, global batch and steps, alternated
`--repeats` times so that a change in machine load hits each of them:
    1 process x all cores (intra-op threads)   the fair baseline on the same cores
    1 process x 1 thread                        what one core does
    torchrun 2 processes x 1 thread (DDP)       data parallelism over gloo
Steady-state tokens/s come from each curve after its first log window (start-up and warm-up).
On 2 cores the honest expectation is no gain over 1 process x 2 threads: the cores are the same, and
DDP adds a gradient all-reduce per step; the 2-process / 1-thread ratio (ideal 2.0) shows the
parallel efficiency.
Run: .venv/bin/python bench/bench_train_distributed.py [--preset tiny-1m --steps 25 --repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import WARMUP, steady_tok_s  # noqa: E402

from rephraser.mix.tokenize import tokenize_texts, train_bpe  # noqa: E402
from rephraser.scale.torchrun import torchrun_argv  # noqa: E402
from rephraser.sources.wiki import wiki_data_path  # noqa: E402


def run(kind: str, tmp: Path, cfg: dict, r: int) -> float:
    out = tmp / f"{kind}-{r}"
    conf = tmp / f"{kind}.yaml"
    threads = {"1x all": None, "1x1": 1, "2x1": 1}[kind]
    conf.write_text(yaml.safe_dump({**cfg, "output": str(out), "threads": threads}), encoding="utf-8")
    args = ["train", "--config", str(conf), "--no-resume"]
    argv = (torchrun_argv(args, nproc_per_node=2, python=sys.executable) if kind == "2x1"
            else [sys.executable, "-m", "rephraser.cli", *args])
    env = {**os.environ, "OMP_NUM_THREADS": "1" if threads else str(os.cpu_count())}
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return steady_tok_s(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny-1m")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    texts = [v["extract"] for _, v in sorted(data.items()) if v.get("extract")][:3000]
    results: dict[str, list[float]] = {"1x all": [], "1x1": [], "2x1": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tokenize_texts(texts, tmp / "tok", train_bpe(texts, 4096), "bench", heldout_fraction=0.02)
        cfg = dict(data=str(tmp / "tok"), preset=args.preset, steps=args.steps + WARMUP, batch_size=args.batch_size,
                   seq_len=args.seq_len, log_every=WARMUP, eval_every=10**9, eval_tokens=256)
        for r in range(args.repeats):
            for kind in (results if r % 2 == 0 else reversed(list(results))):
                results[kind].append(run(kind, tmp, cfg, r))
                print(f"repeat {r} {kind:7s}: {results[kind][-1]:9,.0f} tok/s", flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"preset {args.preset}, global batch {args.batch_size}x{args.seq_len}, {os.cpu_count()} cores, "
          f"median of {args.repeats}")
    for k, v in med.items():
        print(f"{k:22s}: {v:10,.0f} tok/s")
    print(f"2 processes / 1 process x all cores : {med['2x1'] / med['1x all']:.2f}")
    print(f"2 processes / 1 process x 1 thread  : {med['2x1'] / med['1x1']:.2f}  (ideal 2.00)")


if __name__ == "__main__":
    main()
