"""Why greedy outputs with and without speculation differ at 2 threads: the kernels, not the speculation.

    .venv/bin/python bench/bench_batch_invariance.py --docs 8 --max-tokens 80 --figure batch_invariance

Speculation changes the shape of the decode steps (a verify step evaluates k+1 tokens of a sequence at
once; plain decoding one). If llama.cpp's CPU kernels gave bit-identical logits for a token whatever the
batch shape and thread count, greedy outputs would be identical with and without it. This bench tests that
assumption directly, with speculation OFF: the same greedy requests (parallel 1, same documents, far from
those tests use) decoded with 1 thread and with 2 threads. It also repeats a run (the same thread count
twice: run-to-run determinism), and compares speculation on vs off at 1 and at 2 threads, and the
2-thread speculative run with the 1-thread plain one. Where plain
decoding at 1 vs 2 threads already differs, the numbers depend on how the work is split, and a different
batch shape (speculation) can flip a near-tie between the two most likely tokens in the same way.
Prints, per pair, how many of the outputs are identical and, for the first few that differ, the text around
the first difference. Not a timing bench: any load will do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bench_speculative import _request, documents, one_round

from rephraser.config import LlamaCppConfig
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.prompts.registry import resolve_prompt


async def texts(threads: int, speculative: bool, docs: list[str], prompt: str, max_tokens: int,
                kv_cache: str) -> list[str]:
    engine = LlamaCppEngine(LlamaCppConfig(n_ctx=2048, parallel=1, threads=threads, speculative="ngram",
                                           kv_cache=kv_cache))
    await engine.start()
    try:
        reqs = [_request(resolve_prompt(prompt), d, "greedy", seed, max_tokens) for seed, d in enumerate(docs)]
        return (await one_round(engine, reqs, speculative))["texts"]
    finally:
        await engine.stop()


def first_difference(a: str, b: str) -> str:
    k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"…{a[max(0, k - 30):k + 20]!r} vs …{b[max(0, k - 30):k + 20]!r}"


async def measure(args: argparse.Namespace) -> list[dict]:
    docs = documents(args.docs, args.offset)
    rows = []
    for kv_cache in args.kv_cache.split(","):
        for prompt in args.prompts.split(","):
            rows += await measure_one(kv_cache, prompt, docs, args.max_tokens)
    return rows


async def measure_one(kv_cache: str, prompt: str, docs: list[str], max_tokens: int) -> list[dict]:
    rows = []
    runs = {}
    for name, threads, spec in (("off@1", 1, False), ("off@1 again", 1, False), ("on@1", 1, True),
                                ("off@2", 2, False), ("off@2 again", 2, False), ("on@2", 2, True)):
        runs[name] = await texts(threads, spec, docs, prompt, max_tokens, kv_cache)
    for a, b, what in (("off@1", "off@1 again", "same run twice, 1 thread"),
                       ("off@2", "off@2 again", "same run twice, 2 threads"),
                       ("off@1", "off@2", "no speculation: 1 thread vs 2 threads"),
                       ("off@1", "on@1", "speculation off vs on, 1 thread"),
                       ("off@2", "on@2", "speculation off vs on, 2 threads"),
                       ("off@1", "on@2", "1 thread plain vs 2 threads with speculation")):
        same = sum(x == y for x, y in zip(runs[a], runs[b], strict=True))
        diffs = [first_difference(x, y) for x, y in zip(runs[a], runs[b], strict=True) if x != y]
        rows.append({"kv_cache": kv_cache, "prompt": prompt, "pair": what, "identical": f"{same}/{len(docs)}",
                     "example": diffs[0] if diffs else "–", "load": round(os.getloadavg()[0], 1)})
        print(f"{kv_cache:<5} {prompt:<28} {what:<40} identical {same}/{len(docs)}  {diffs[:2]}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", default="wikipedia_style_rephrasing,tutorial")
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--offset", type=int, default=2000, help="first wiki extract used (tests use the first ones)")
    ap.add_argument("--max-tokens", type=int, default=80)
    ap.add_argument("--kv-cache", default="f16,q8_0", help="engine.kv_cache values, comma-separated")
    ap.add_argument("--figure", default=None, help="write bench/results/NAME.json for the docs")
    args = ap.parse_args()
    rows = asyncio.run(measure(args))
    if args.figure:
        sys.path.insert(0, str(Path(__file__).parent))
        from figures import write_figure

        write_figure(args.figure, {"rows": rows}, {"pairs": {"rows": "rows", "columns": [
            ["KV cache", "{kv_cache}"], ["prompt", "{prompt}"], ["compared", "{pair}"], ["identical greedy outputs", "**{identical}**"],
            ["first difference (one example)", "{example}"]]}},
            how=f"bench/bench_batch_invariance.py --prompts {args.prompts} --docs {args.docs} "
                f"--max-tokens {args.max_tokens} --kv-cache {args.kv_cache}",
            where=f"{os.cpu_count()}-core machine (load does not matter here: no timing)")


if __name__ == "__main__":
    main()
