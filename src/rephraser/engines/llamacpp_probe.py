"""A short decode of a model through the real embedded engine, meant to run in a child process.

`rephraser doctor` runs `python -m rephraser.engines.llamacpp_probe` so that a crash inside llama.cpp
(a segfault, an illegal instruction) kills only the child: the parent reads the signal and turns it into
a one-line diagnosis. Prints one JSON object on stdout: the kernels llama.cpp reports as compiled in,
the tokens decoded and the decode speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from rephraser.config import LlamaCppConfig
from rephraser.engines import cpu_policy
from rephraser.engines.base import EngineError, GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine

PROBE_TEXT = "Write one short sentence about the Moon."


async def _probe(model: str, tokens: int, threads: int | None) -> dict[str, object]:
    cpu_policy.prepare()  # libgomp reads its environment when llama.cpp loads
    import llama_cpp

    engine = LlamaCppEngine(LlamaCppConfig(model=model, n_ctx=512, parallel=2, threads=threads))
    t0 = time.perf_counter()
    await engine.start()
    loaded = time.perf_counter() - t0
    try:
        # two sequences in one batch: the batched path is what `rephraser run` uses
        reqs = [GenerationRequest(messages=({"role": "user", "content": PROBE_TEXT},),
                                  sampling=Sampling(temperature=0.0, max_tokens=tokens, seed=i)) for i in range(2)]
        t1 = time.perf_counter()
        outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
        wall = time.perf_counter() - t1
    finally:
        await engine.stop()
    n = sum(o.completion_tokens for o in outs)
    info = llama_cpp.llama_print_system_info()
    return {
        "ok": n > 0,
        "system_info": info.decode() if isinstance(info, bytes) else str(info),
        "completion_tokens": n,
        "load_s": round(loaded, 3),
        "tok_per_s": round(n / wall, 1) if wall > 0 else None,
        "sample": outs[0].text[:80],
        "cpu_policy": engine.capabilities.extra.get("cpu_policy"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rephraser.engines.llamacpp_probe")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        result = asyncio.run(_probe(args.model, args.tokens, args.threads))
    except EngineError as e:
        print(json.dumps({"ok": False, "error": str(e).splitlines()[0]}))
        return 1
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
