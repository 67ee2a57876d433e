"""The embedded engine against llama.cpp's own `llama-batched-bench`, built from the same sources and flags.

    .venv/bin/python bench/bench_native.py [--batch 8,16 --pp 256 --tg 64 --threads 2 --rounds 1 --figure native]

Builds `llama-batched-bench` once (cached under ~/.cache/rephraser/bench-builds/) from the vendored
llama.cpp of the installed llama-cpp-python (bench_llama_build.vendored_sources) with the flags
scripts/llama_wheel.sh gives the wheel (native SIMD, AMX off). Then, alternating native / rephraser /
rephraser / native (ABBA), it decodes the same work: B sequences of PP prompt tokens each, then TG new
tokens each, same GGUF, threads and n_batch, with the same OpenMP environment (the bounded spin the engine
sets, engines/cpu_policy.py). The native tool feeds random tokens and never samples; rephraser greedy-
samples its real prompts (continuation text, so the chat template adds nothing) through the Engine
protocol. Printed: prompt + generated tokens per second of each and the ratio rephraser / native, and
the generation phase alone (native: its S_TG column; rephraser: generated tokens over the engine's time
in generation steps, `decode_seconds`). If a rephraser sequence ends early (an end token), the work
differs and the line says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_llama_build import CACHE, vendored_sources

from rephraser.config import LlamaCppConfig
from rephraser.engines import cpu_policy
from rephraser.engines.base import GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.engines.models import resolve_model

AMX_OFF = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_EXAMPLES=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_CURL=OFF", "-DLLAVA_BUILD=OFF",
         "-DGGML_NATIVE=ON", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",
         f"-DCMAKE_C_FLAGS={AMX_OFF}", f"-DCMAKE_CXX_FLAGS={AMX_OFF}"]
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|"
                 r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")
WORDS = ["river", "valley", "stone", "bridge", "market", "harbour", "winter", "garden", "lantern", "orchard",
         "meadow", "forest", "tower", "canal", "village", "mountain", "library", "window", "island", "bakery"]


def build() -> Path:
    src = vendored_sources()
    out = CACHE / f"batched-bench-{src.name.removeprefix('src-')}-wheelflags"
    exe = out / "bin" / "llama-batched-bench"
    if exe.is_file():
        return exe
    print(f"building llama-batched-bench into {out} (once; minutes on 2 cores)", file=sys.stderr, flush=True)
    subprocess.run(["cmake", "-S", str(src), "-B", str(out), *FLAGS], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(out), "--target", "llama-batched-bench", "-j", str(os.cpu_count() or 2)],
                   check=True, capture_output=True)
    return exe


def native(exe: Path, model: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    cmd = [str(exe), "-m", str(model), "-c", str(args.batch * (args.pp + args.tg + 64)), "-b", "512", "-ub", "512",
           "-npp", str(args.pp), "-ntg", str(args.tg), "-npl", str(args.batch), "-t", str(args.threads),
           "-tb", str(args.threads)]
    if args.kv_cache != "f16":  # as the engine sets it (engines/llamacpp_model.py): quantized K and V, flash attention on
        cmd += ["-ctk", args.kv_cache, "-ctv", args.kv_cache, "-fa", "on"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    for line in (p.stdout + p.stderr).splitlines():
        m = ROW.match(line.strip())
        if m:
            total_s = float(m.group(9))
            return {"tok_s": (args.batch * (args.pp + args.tg)) / total_s, "tg_tok_s": float(m.group(8)),
                    "s_pp": float(m.group(6)), "wall_s": total_s}
    raise SystemExit(f"error: no result row from llama-batched-bench: {(p.stderr or p.stdout)[-300:]}")


async def rephraser_run(engine: LlamaCppEngine, prompts: list[str], tg: int) -> dict:
    reqs = [GenerationRequest(messages=({"role": "user", "content": text},), continuation=True,
                              sampling=Sampling(temperature=0.0, max_tokens=tg)) for text in prompts]
    d0 = engine.decode_seconds
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
    wall = time.perf_counter() - t0
    await asyncio.sleep(0.05)  # the decode thread adds the last step's time just after handing results back
    work = sum(o.prompt_tokens + o.completion_tokens for o in outs)
    generated = sum(o.completion_tokens for o in outs)
    return {"tok_s": work / wall, "wall_s": wall, "generated": generated, "prompt": sum(o.prompt_tokens for o in outs),
            "tg_tok_s": generated / (engine.decode_seconds - d0)}


def prompts(engine: LlamaCppEngine, n: int, pp: int) -> list[str]:
    """n different texts of exactly pp tokens (with BOS) for the model's tokenizer."""
    count = engine.capabilities.count_tokens
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(pp * 2)]
        lo, hi = 1, len(words)
        while lo < hi:  # the longest prefix that fits pp - 1 tokens (BOS makes pp)
            mid = (lo + hi + 1) // 2
            if count(" ".join(words[:mid])) <= pp - 1:
                lo = mid
            else:
                hi = mid - 1
        out.append(" ".join(words[:lo]))
    return out


async def one_batch(exe: Path, model: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    engine = LlamaCppEngine(LlamaCppConfig(model=args.model, n_ctx=args.pp + args.tg + 64, parallel=args.batch,
                                         threads=args.threads, n_batch=512, kv_cache=args.kv_cache))
    await engine.start()
    try:
        texts = prompts(engine, args.batch, args.pp)
        await rephraser_run(engine, texts[:1], 4)  # warm-up
        runs: dict[str, list[dict]] = {"native": [], "rephraser": []}
        for _ in range(args.rounds):
            for side in ("native", "rephraser", "rephraser", "native"):
                r = native(exe, model, args, env) if side == "native" else await rephraser_run(engine, texts, args.tg)
                r["load"] = os.getloadavg()[0]
                runs[side].append(r)
                print(f"B={args.batch} {side:<9} {r['tok_s']:8.1f} tok/s (prompt + generated) · {r['wall_s']:.2f} s · "
                      f"generation {r['tg_tok_s']:.1f} tok/s · load {r['load']:.1f}"
                      + (f" · generated {r['generated']}/{args.batch * args.tg}" if side == "rephraser" else ""),
                      flush=True)
    finally:
        await engine.stop()
    med = {side: {k: statistics.median(r[k] for r in rs) for k in ("tok_s", "tg_tok_s")} for side, rs in runs.items()}
    short = any(r["generated"] < args.batch * args.tg for r in runs["rephraser"])
    out = {"batch": args.batch, "pp": args.pp, "tg": args.tg, "threads": args.threads, "kv_cache": args.kv_cache,
           "native_tok_s": med["native"]["tok_s"], "rephraser_tok_s": med["rephraser"]["tok_s"],
           "ratio": med["rephraser"]["tok_s"] / med["native"]["tok_s"],
           "native_tg": med["native"]["tg_tok_s"], "rephraser_tg": med["rephraser"]["tg_tok_s"],
           "tg_ratio": med["rephraser"]["tg_tok_s"] / med["native"]["tg_tok_s"], "same_work": not short,
           "loads": ", ".join(f"{r['load']:.1f}" for side in ("native", "rephraser") for r in runs[side])}
    print(f"B={args.batch} ratio rephraser / native: {out['ratio']:.2f} (prompt + generated), generation alone "
          f"{out['tg_ratio']:.2f} (PP={args.pp}, TG={args.tg}, threads {args.threads})"
          + (" — some sequences ended early: not the same work" if short else ""), flush=True)
    return out


async def main_async(args: argparse.Namespace) -> None:
    exe = build()
    model = resolve_model(args.model).path
    wait = cpu_policy.prepare("bounded")  # the engine's environment, given to the native tool as well
    env = dict(os.environ)
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        args.batch = batch
        rows.append(await one_batch(exe, model, args, env))
    if args.figure:
        write(args, rows, wait)


VIEWS = {"by_batch": {"rows": "rows", "columns": [
    ["sequences (B)", "{batch}"], ["KV cache", "{kv_cache}"], ["prompt / generated tokens each", "{pp} / {tg}"], ["threads", "{threads}"],
    ["native tok/s (prompt + generated)", "{native_tok_s:.1f}"], ["rephraser tok/s", "{rephraser_tok_s:.1f}"],
    ["rephraser / native", "**{ratio:.2f}**"], ["generation alone: native → rephraser tok/s", "{native_tg:.1f} → {rephraser_tg:.1f}"],
    ["generation ratio", "**{tg_ratio:.2f}**"], ["same work", "{same_work}"], ["load per run", "{loads}"]]}}


def write(args: argparse.Namespace, rows: list[dict], wait: str) -> None:
    from figures import write_figure

    loads = [float(x) for r in rows for x in r["loads"].split(", ")]
    write_figure(args.figure, {"rows": rows, "wait": wait}, VIEWS,
                 how=f"bench/bench_native.py --batch {args.batches} --pp {args.pp} --tg {args.tg} --threads {args.threads} "
                     f"--rounds {args.rounds} --figure {args.figure}" + (f" --kv-cache {args.kv_cache}" if args.kv_cache != "f16" else ""),
                 where=f"{os.cpu_count()}-core machine, {args.where}, 1-min load {min(loads):.1f}-{max(loads):.1f}; "
                       f"OpenMP: {wait}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", dest="batches", default="8", help="one or more, comma-separated")
    ap.add_argument("--pp", type=int, default=256)
    ap.add_argument("--tg", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--kv-cache", default="f16", choices=["f16", "q8_0"], help="engine.kv_cache (and -ctk/-ctv natively)")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--where", default="shared with other agents' work")
    ap.add_argument("--figure", default=None)
    args = ap.parse_args()
    if args.build_only:
        print(build())
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
