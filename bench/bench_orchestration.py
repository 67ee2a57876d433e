"""Orchestration efficiency: rephraser's end-to-end output tok/s vs the engine's own batched limit.

Same model (the embedded SmolLM2-135M GGUF), same prompts (the `faq` prompt rendered on the same
wiki documents), greedy decoding, same max_tokens:
(a) the engine's limit, the better of: a bare llama.cpp loop decoding B documents together (no
    asyncio, no queue, no I/O) in waves of B, and LlamaCppEngine.generate() called directly with
    every document in flight at once (no runner around it);
(b) `rephraser run` machinery (run_config: source reading, prompt rendering, truncation, cache,
    retries, contracts, Parquet commits, accounting) with the in-process llama.cpp engine.
Prints both and the ratio (b)/(a). Only meaningful on a quiet machine.
(c) the single-writer lease's cost: the same run with an instant in-process engine and a commit every
    few rows (so commits, where the lease is checked, dominate), with the lease and with it replaced
    by a no-op, alternated; prints the ratio of the median wall times.

    .venv/bin/python bench/bench_orchestration.py [--docs 16 --batch 8 --tokens 128] [--lease-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine_llamacpp import raw_loop  # noqa: E402

from rephraser.config import LlamaCppConfig, RunConfig, SourceConfig  # noqa: E402
from rephraser.engines.base import Capabilities, Completion, GenerationRequest, Sampling  # noqa: E402
from rephraser.engines.llamacpp import LlamaCppEngine  # noqa: E402
from rephraser.engines.llamacpp_model import LoadedModel  # noqa: E402
from rephraser.engines.models import resolve_model  # noqa: E402
from rephraser.generate.runner import run_config  # noqa: E402
from rephraser.prompts.registry import resolve_prompt  # noqa: E402
from rephraser.sources import iter_source  # noqa: E402


async def engine_direct(msgs: list, args: argparse.Namespace) -> tuple[int, float]:
    engine = LlamaCppEngine(LlamaCppConfig(n_ctx=args.n_ctx, parallel=args.batch))
    await engine.start()
    try:
        sampling = Sampling(temperature=0.0, max_tokens=args.tokens)
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(engine.generate(GenerationRequest(messages=m, sampling=sampling)) for m in msgs))
        return sum(o.completion_tokens for o in outs), time.perf_counter() - t0
    finally:
        await engine.stop()


class InstantEngine:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(model_id="instant", engine="bench", max_context=4096, batch_slots=64,
                            count_tokens=lambda t: len(t) // 4 + 1)

    async def generate(self, request: GenerationRequest) -> Completion:
        return Completion(text="Q: What is it?\nA: A document.\n\nQ: Why?\nA: It is.", finish_reason="stop",
                          prompt_tokens=10, completion_tokens=12)


class NoLease:
    def ensure_held(self, **_: object) -> None:
        pass


def lease_cost(docs: int, rows_per_part: int, repeats: int) -> None:
    """(c): wall time of a commit-bound run with the lease vs without it (no-op), alternated."""
    from rephraser.generate import shard  # where the runner takes its leases

    real = shard.shard_writer, shard.folder_change
    off = (lambda *a, **k: contextlib.nullcontext(NoLease()), lambda *a, **k: contextlib.nullcontext())
    times: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "in.jsonl"
        corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Document {i} about topic {i % 97}."}) + "\n"
                                  for i in range(docs)))
        for r in range(repeats):
            for mode in ("with", "without"):
                shard.shard_writer, shard.folder_change = real if mode == "with" else off
                cfg = RunConfig.model_validate({
                    "source": {"path": str(corpus)}, "prompts": ["faq"], "postprocess": {"enabled": False},
                    "output": {"dir": str(Path(tmp) / f"{mode}{r}"), "rows_per_part": rows_per_part}})
                t0 = time.perf_counter()
                run_config(cfg, progress=False, engine=InstantEngine())
                times[mode].append(time.perf_counter() - t0)
    shard.shard_writer, shard.folder_change = real
    w, wo = statistics.median(times["with"]), statistics.median(times["without"])
    print(f"(c) lease cost: {docs} docs, a commit every {rows_per_part} rows, median of {repeats}: with lease "
          f"{w:.2f}s, without {wo:.2f}s, ratio with/without {w / wo:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--lease-only", action="store_true", help="only (c), the lease's cost (no model needed)")
    ap.add_argument("--lease-docs", type=int, default=3000)
    ap.add_argument("--lease-rows-per-part", type=int, default=20)
    ap.add_argument("--lease-repeats", type=int, default=3)
    args = ap.parse_args()
    lease_cost(args.lease_docs, args.lease_rows_per_part, args.lease_repeats)
    if args.lease_only:
        return
    spec = resolve_prompt("faq")
    docs = list(iter_source(SourceConfig(limit=args.docs)))
    msgs = [({"role": "user", "content": spec.render(d.text)},) for d in docs]

    m = LoadedModel(resolve_model("smollm2-135m").path, n_ctx=args.n_ctx, parallel=args.batch, threads=None)
    raw_loop(m, 1, 8, msgs)  # warm-up
    gen = secs = 0.0
    for w in range(0, len(msgs), args.batch):
        wave = msgs[w:w + args.batch]
        g, t = raw_loop(m, len(wave), args.tokens, wave)
        gen, secs = gen + g, secs + t
    m.close_context()
    bare = gen / secs
    direct_tokens, direct_s = asyncio.run(engine_direct(msgs, args))
    direct = direct_tokens / direct_s
    limit = max(bare, direct)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig.model_validate({
            "source": {"limit": args.docs}, "prompts": ["faq"],
            "engine": {"n_ctx": args.n_ctx, "parallel": args.batch},
            "sampling": {"temperature": 0.0, "max_tokens": args.tokens},
            "output": {"dir": str(Path(tmp) / "out")},
        })
        t0 = time.perf_counter()
        stats = run_config(cfg, progress=False)
        wall = time.perf_counter() - t0
    tokens = stats.session.fresh_completion_tokens
    ours = tokens / wall
    loop_s = stats.session.wall_s  # from the first document to the last commit (model already loaded)
    ours_loop = tokens / loop_s
    print(f"(a) bare llama.cpp loop, batch {args.batch}: {bare:7.1f} tok/s ({int(gen)} tokens in {secs:.1f}s)")
    print(f"(a) engine.generate() direct   : {direct:7.1f} tok/s ({direct_tokens} tokens in {direct_s:.1f}s)")
    print(f"(b) rephraser run (end to end) : {ours:7.1f} tok/s ({stats.session.fresh_completion_tokens} tokens "
          f"in {wall:.1f}s, incl. model load and commits)")
    print(f"(b') rephraser run, after load  : {ours_loop:7.1f} tok/s ({tokens} tokens in {loop_s:.1f}s: source, prompts, "
          "contracts, cache, commits, accounting)")
    print(f"ratio (b)/(best a)             : {ours / limit:7.2f}")
    print(f"ratio (b')/(best a)            : {ours_loop / limit:7.2f}   <- orchestration efficiency (same work as a)")


if __name__ == "__main__":
    main()
