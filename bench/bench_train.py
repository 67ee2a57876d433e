"""Training throughput of the proxy: `train()` vs a bare forward+backward+AdamW loop (the limit).

Both use the same preset, batch, sequence length and thread count; the bare loop feeds one fixed
random batch, so the ratio shows what our data loading, scheduling, clipping, logging and the
distributed plumbing (a no-op in one process) cost. Both are timed in steady state: the bare loop
after its warm-up steps, train() between its first and last log points (its progress callback), so
start-up (imports, allocator warm-up) counts in neither. Two clocks: wall time, and the process's CPU
time (all its threads), which a busy shared machine disturbs far less. The two loops alternate
`--repeats` times; the median ratios are printed.
Run: .venv/bin/python bench/bench_train.py [--preset tiny-1m --steps 40 --repeats 3 --compile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rephraser.mix.tokenize import tokenize_texts, train_bpe
from rephraser.sources.wiki import wiki_data_path
from rephraser.train.model import ProxyModel, preset_config
from rephraser.train.trainer import TrainConfig, train

WARMUP = 5  # steps: the bare loop skips them, train()'s first log window holds them


def bare_loop(preset: str, vocab: int, batch: int, seq: int, steps: int, compile: bool) -> tuple[float, float]:
    """(tokens per wall second, tokens per CPU second) in steady state."""
    torch.manual_seed(0)
    model = ProxyModel(preset_config(preset, vocab_size=vocab, max_seq_len=seq))
    fn = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    x = torch.randint(0, vocab, (batch, seq + 1))
    for i in range(steps + WARMUP):
        if i == WARMUP:
            t0, c0 = time.perf_counter(), time.process_time()
        logits = fn(x[:, :-1])
        F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1)).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    tokens = steps * batch * seq
    return tokens / (time.perf_counter() - t0), tokens / (time.process_time() - c0)


class Clock:
    """train()'s progress callback: wall and CPU time at each log point."""

    def __init__(self) -> None:
        self.points: list[tuple[int, float, float]] = []

    def __call__(self, point: dict, total: int) -> None:
        self.points.append((point["tokens"], time.perf_counter(), time.process_time()))

    def steady(self) -> tuple[float, float]:
        (t0, w0, c0), (t1, w1, c1) = self.points[0], self.points[-1]
        return (t1 - t0) / (w1 - w0), (t1 - t0) / (c1 - c0)


def steady_tok_s(run: Path) -> float:
    """Tokens per second over the curve's windows after the first."""
    points = [json.loads(x) for x in (run / "curve.jsonl").read_text().splitlines()][1:]
    tokens = [(b["tokens"] - a["tokens"]) for a, b in zip(points, points[1:], strict=False)]
    seconds = [t / p["tok_s"] for t, p in zip(tokens, points[1:], strict=True)]
    return sum(tokens) / sum(seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny-1m")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    texts = [v["extract"] for _, v in sorted(data.items()) if v.get("extract")][:3000]
    wall, cpu, ours_all, limit_all = [], [], [], []
    with tempfile.TemporaryDirectory() as d:
        tokenize_texts(texts, f"{d}/tok", train_bpe(texts, 4096), "bench", heldout_fraction=0.02)
        for r in range(args.repeats):
            limit, limit_cpu = bare_loop(args.preset, 4096, args.batch_size, args.seq_len, args.steps, args.compile)
            cfg = TrainConfig(data=f"{d}/tok", output=f"{d}/run{r}", preset=args.preset, steps=args.steps + WARMUP,
                              batch_size=args.batch_size, seq_len=args.seq_len, eval_every=10**9, log_every=WARMUP,
                              compile=args.compile, eval_tokens=256, threads=args.threads)
            clock = Clock()
            summary = train(cfg, progress=clock)
            ours, ours_cpu = clock.steady()
            wall.append(ours / limit)
            cpu.append(ours_cpu / limit_cpu)
            ours_all.append(ours)
            limit_all.append(limit)
            print(f"repeat {r}: train() {ours:9,.0f} tok/s  bare loop {limit:9,.0f} tok/s  wall ratio {wall[-1]:.2f}"
                  f"  CPU-time ratio {cpu[-1]:.2f}", flush=True)
    print(f"preset {args.preset} ({summary['parameters']:,} params) batch {args.batch_size}x{args.seq_len} "
          f"threads {summary['threads']} compile {args.compile}")
    print(f"train()   : {statistics.median(ours_all):10,.0f} tok/s (median, steady state)")
    print(f"bare loop : {statistics.median(limit_all):10,.0f} tok/s")
    print(f"ratio     : wall {statistics.median(wall):.2f} (range {min(wall):.2f}-{max(wall):.2f}), "
          f"CPU time {statistics.median(cpu):.2f} (range {min(cpu):.2f}-{max(cpu):.2f}), median of {args.repeats}")


if __name__ == "__main__":
    main()
