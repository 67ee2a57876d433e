"""Throughput of LlamaCppEngine vs a bare llama.cpp decode loop on the same model.

(a) a plain low-level loop (llama_batch + llama_decode, greedy argmax, no asyncio, no queue) at
    batch 1 and at batch B with one KV sequence per prompt: the best this model does here;
(b) LlamaCppEngine through the Engine protocol with B requests in flight.
Prints generated tokens/s and the ratio (b)/(best of a). Numbers are only meaningful on a quiet
machine; run: .venv/bin/python bench/bench_engine_llamacpp.py [--batch 8 --tokens 64 --threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from rephraser.config import LlamaCppConfig
from rephraser.engines.base import GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.engines.llamacpp_model import LoadedModel
from rephraser.engines.models import resolve_model

TOPICS = ["rivers", "volcanoes", "bread", "bridges", "owls", "glass", "tides", "chess", "maps", "bees",
          "clocks", "salt", "comets", "paper", "wind", "coral"]


def messages(i: int) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": f"Write a long, detailed essay about {TOPICS[i % len(TOPICS)]}."},)


def raw_loop(m: LoadedModel, n_seqs: int, max_tokens: int, msgs: list | None = None) -> tuple[int, float]:
    """Generated tokens and seconds for n_seqs prompts decoded together (greedy).

    Each prompt is prefilled on its own (in pieces of at most n_batch tokens, the most llama_decode
    takes); then one batch per step carries the next token of every live sequence.
    """
    lib = m.lib
    prompts = [m.prompt_tokens(msgs[i] if msgs else messages(i), continuation=False) for i in range(n_seqs)]
    batch = lib.llama_batch_init(m.n_batch, 0, 1)
    for s in range(n_seqs):
        lib.llama_memory_seq_rm(m.memory, s, -1, -1)

    def put(j: int, tok: int, pos: int, seq: int, logits: bool) -> None:
        batch.token[j], batch.pos[j], batch.n_seq_id[j] = tok, pos, 1
        batch.seq_id[j][0], batch.logits[j] = seq, logits

    def argmax(row: int) -> int:
        return int(np.argmax(np.ctypeslib.as_array(lib.llama_get_logits_ith(m.ctx, row), shape=(m.n_vocab,))))

    t0 = time.perf_counter()
    live: dict[int, tuple[int, int]] = {}  # seq -> (next token, its position)
    for s, toks in enumerate(prompts):
        for start in range(0, len(toks), m.n_batch):
            piece = toks[start:start + m.n_batch]
            for j, t in enumerate(piece):
                put(j, t, start + j, s, start + j == len(toks) - 1)
            batch.n_tokens = len(piece)
            assert lib.llama_decode(m.ctx, batch) == 0
        live[s] = (argmax(batch.n_tokens - 1), len(toks))
    generated = 0
    for _ in range(max_tokens):
        live = {s: tp for s, tp in live.items() if not m.is_end(tp[0])}
        if not live:
            break
        order = list(live)
        for j, s in enumerate(order):
            tok, pos = live[s]
            put(j, tok, pos, s, True)
        batch.n_tokens = len(order)
        generated += len(order)
        assert lib.llama_decode(m.ctx, batch) == 0
        live = {s: (argmax(j), live[s][1] + 1) for j, s in enumerate(order)}
    dt = time.perf_counter() - t0
    lib.llama_batch_free(batch)
    for s in range(n_seqs):
        lib.llama_memory_seq_rm(m.memory, s, -1, -1)
    return generated, dt


async def engine_run(cfg: LlamaCppConfig, n_requests: int, max_tokens: int) -> tuple[int, float]:
    engine = LlamaCppEngine(cfg)
    await engine.start()
    try:
        reqs = [GenerationRequest(messages=messages(i), sampling=Sampling(temperature=0, max_tokens=max_tokens))
                for i in range(n_requests)]
        await engine.generate(reqs[0])  # warm-up
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
        return sum(o.completion_tokens for o in outs), time.perf_counter() - t0
    finally:
        await engine.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    path = resolve_model(args.model).path
    m = LoadedModel(path, n_ctx=1024, parallel=args.batch, threads=args.threads)
    raw_loop(m, 1, 8)  # warm-up
    g1, t1 = raw_loop(m, 1, args.tokens)
    gb, tb = raw_loop(m, args.batch, args.tokens)
    m.close_context()
    cfg = LlamaCppConfig(model=args.model, n_ctx=1024, parallel=args.batch, threads=args.threads)
    ge, te = asyncio.run(engine_run(cfg, args.batch, args.tokens))
    best = max(g1 / t1, gb / tb)
    print(f"(a) raw loop batch 1        : {g1 / t1:7.1f} tok/s ({g1} tokens)")
    print(f"(a) raw loop batch {args.batch:<2}       : {gb / tb:7.1f} tok/s ({gb} tokens)")
    print(f"(b) LlamaCppEngine {args.batch} in flight: {ge / te:7.1f} tok/s ({ge} tokens)")
    print(f"ratio (b)/(best a)          : {ge / te / best:7.2f}")


if __name__ == "__main__":
    main()
