"""Training throughput of the proxy: `train()` vs a bare forward+backward+AdamW loop (the limit).

Both use the same preset, batch, sequence length and thread count; the bare loop feeds one fixed
random batch, so the ratio shows what our data loading, scheduling, clipping and logging cost.
Run: .venv/bin/python bench/bench_train.py [--preset tiny-1m --steps 40 --compile]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
import torch.nn.functional as F

from rephraser.evaluate.model import ProxyModel, preset_config
from rephraser.evaluate.train import TrainConfig, train
from rephraser.mix.tokenize import tokenize_texts, train_bpe
from rephraser.sources.wiki import wiki_data_path


def bare_loop(preset: str, vocab: int, batch: int, seq: int, steps: int, compile: bool) -> float:
    torch.manual_seed(0)
    model = ProxyModel(preset_config(preset, vocab_size=vocab, max_seq_len=seq))
    fn = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    x = torch.randint(0, vocab, (batch, seq + 1))
    for i in range(steps + 3):  # 3 warm-up steps (allocator, compile) are not timed
        if i == 3:
            t0 = time.perf_counter()
        logits = fn(x[:, :-1])
        F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1)).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * batch * seq / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny-1m")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = ap.parse_args()
    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    texts = [v["extract"] for _, v in sorted(data.items()) if v.get("extract")][:3000]
    with tempfile.TemporaryDirectory() as d:
        tokenize_texts(texts, f"{d}/tok", train_bpe(texts, 4096), "bench", heldout_fraction=0.02)
        cfg = TrainConfig(data=f"{d}/tok", output=f"{d}/run", preset=args.preset, steps=args.steps,
                          batch_size=args.batch_size, seq_len=args.seq_len, eval_every=10**9, log_every=10**9,
                          compile=args.compile, eval_tokens=256, threads=args.threads)
        summary = train(cfg)
    ours = summary["tok_s_this_session"]
    limit = bare_loop(args.preset, 4096, args.batch_size, args.seq_len, args.steps, args.compile)
    print(f"preset {args.preset} ({summary['parameters']:,} params) batch {args.batch_size}x{args.seq_len} "
          f"threads {summary['threads']} compile {args.compile}")
    print(f"train()   : {ours:10,.0f} tok/s (includes the first, slower steps)")
    print(f"bare loop : {limit:10,.0f} tok/s")
    print(f"ratio     : {ours / limit:.2f}")


if __name__ == "__main__":
    main()
