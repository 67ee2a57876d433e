"""Tokenization throughput: `tokenize_texts` (split, EOS, offsets, disk) vs bare `encode_batch`.

The engine limit is `Tokenizer.encode_batch` on the same texts with nothing else done; the ratio
shows what our shard writing costs on top. Run: .venv/bin/python bench/bench_tokenize.py [--copies 3]
Text: the embedded Wikipedia lead extracts (CC BY-SA 4.0), repeated --copies times.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from rephraser.mix.tokenize import tokenize_texts, train_bpe
from rephraser.sources.wiki import wiki_data_path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    data = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    base = [v["extract"] for _, v in sorted(data.items()) if v.get("extract")]
    texts = [f"{t} ({c})" for c in range(args.copies) for t in base]  # distinct copies: held-out hashing differs
    tok = train_bpe(base, vocab_size=args.vocab_size)

    t0 = time.perf_counter()
    n_raw = 0
    for i in range(0, len(texts), 2048):
        n_raw += sum(len(e.ids) for e in tok.encode_batch(texts[i : i + 2048], add_special_tokens=False))
    raw_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        meta = tokenize_texts(texts, d, tok, "bench", heldout_fraction=0.02)
        ours_s = time.perf_counter() - t0
    n_ours = sum(s["tokens"] for s in meta["splits"].values())
    print(f"documents {len(texts):,}  tokens {n_raw:,} (+{n_ours - n_raw:,} EOS)")
    print(f"raw encode_batch : {n_raw / raw_s:12,.0f} tok/s")
    print(f"tokenize_texts   : {n_ours / ours_s:12,.0f} tok/s")
    print(f"ratio ours/limit : {(n_ours / ours_s) / (n_raw / raw_s):.2f}")


if __name__ == "__main__":
    main()
