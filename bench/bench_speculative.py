"""Prompt-lookup speculative decoding in the embedded engine: speed-up, acceptance and identical outputs.

    .venv/bin/python bench/bench_speculative.py                      # 3 prompts x greedy/study, ABBA rounds
    .venv/bin/python bench/bench_speculative.py --prompts tutorial --samplings greedy --docs 4 --max-tokens 64

One engine per `--parallel` value stays loaded; for every (prompt, sampling) the same requests (same
documents and seeds) run in rounds off, on, on, off (ABBA), so both settings see the same machine load,
and the script prints per setting the DECODE tok/s (output tokens over the engine's time in generation
steps; the prompts' prefill, the same work either way and most of a short rewrite's wall time, is
counted apart and shown as seconds), the ratio on/off (median over the round pairs), the acceptance rate, the mean
tokens emitted per verify step, how many documents came out identical (they should all: speculation
samples every position with the draws it would have used anyway), and the load average beside each
figure. Documents are Wikipedia extracts taken from the far end of the embedded set (`--offset`), which
no test uses. On a shared machine read the ratios, never the absolute tok/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from rephraser.config import LlamaCppConfig
from rephraser.engines.base import GenerationRequest, Sampling
from rephraser.engines.llamacpp import LlamaCppEngine
from rephraser.prompts.registry import resolve_prompt
from rephraser.sources.validate import Document
from rephraser.sources.wiki import read_wiki

SAMPLINGS = {"greedy": {"temperature": 0.0}, "study": {"temperature": 1.0, "top_p": 0.95, "top_k": 64}}


def documents(n: int, offset: int, max_chars: int = 1500) -> list[str]:
    out: list[str] = []
    for i, checked in enumerate(read_wiki(max_chars)):
        if i >= offset and isinstance(checked.item, Document) and len(checked.item.text) > 300:
            out.append(checked.item.text)
            if len(out) == n:
                break
    return out


async def one_round(engine: LlamaCppEngine, reqs: list[GenerationRequest], on: bool) -> dict:
    engine.set_speculative(on)
    before = (engine.speculation.drafted, engine.speculation.accepted, engine.speculation.steps)
    dec0, pre0 = engine.decode_seconds, engine.prefill_seconds
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
    wall = time.perf_counter() - t0
    await asyncio.sleep(0.05)  # the decode thread adds a step's time just after it hands the last result back
    s = engine.speculation
    drafted, accepted, steps = s.drafted - before[0], s.accepted - before[1], s.steps - before[2]
    tokens = sum(o.completion_tokens for o in outs)
    decode_s, prefill_s = engine.decode_seconds - dec0, engine.prefill_seconds - pre0
    return {"on": on, "tok_s": tokens / decode_s, "tokens": tokens, "wall_s": wall, "decode_s": decode_s,
            "prefill_s": prefill_s, "wall_tok_s": tokens / wall, "load": os.getloadavg()[0],
            "drafted": drafted, "accepted": accepted, "steps": steps, "texts": [o.text for o in outs]}


async def measure(args: argparse.Namespace) -> list[dict]:
    results: list[dict] = []
    for parallel in (int(p) for p in str(args.parallel).split(",")):
        await measure_parallel(args, parallel, results)
    return results


async def measure_parallel(args: argparse.Namespace, parallel: int, results: list[dict]) -> None:
    engine = LlamaCppEngine(LlamaCppConfig(model=args.model, n_ctx=args.n_ctx, parallel=parallel,
                                         threads=args.threads, speculative="ngram", kv_cache=args.kv_cache))
    await engine.start()
    docs = documents(max(args.docs, parallel), args.offset)  # at least one per slot: `parallel` really in flight
    try:
        await one_round(engine, [_request(resolve_prompt("faq"), docs[0], "greedy", 0, 8)], False)  # warm-up
        for prompt in args.prompts.split(","):
            spec = resolve_prompt(prompt)
            for sampling in args.samplings.split(","):
                reqs = [_request(spec, d, sampling, seed, args.max_tokens) for seed, d in enumerate(docs)]
                rounds = []
                for _ in range(args.pairs):
                    rounds += [await one_round(engine, reqs, on) for on in (False, True, True, False)]
                a, b = engine._cost.coefficients()  # the planner's step-cost model after these rounds
                results.append({"parallel": parallel, **summarise(prompt, sampling, rounds),
                                "cost_ms": f"{1000 * a:.1f} + {1000 * b:.2f}/row"})
                print(line(results[-1]), flush=True)
                if args.figure:  # after every pair, so a run stopped early keeps what it measured
                    write(args, results)
    finally:
        await engine.stop()


def _request(spec, doc: str, sampling: str, seed: int, max_tokens: int) -> GenerationRequest:
    return GenerationRequest(messages=spec.messages(doc),
                             sampling=Sampling(**SAMPLINGS[sampling], max_tokens=max_tokens, seed=seed))


def summarise(prompt: str, sampling: str, rounds: list[dict]) -> dict:
    off = [r for r in rounds if not r["on"]]
    on = [r for r in rounds if r["on"]]
    # ABBA: pair round i of "off" with round i of "on" (first off with first on, last off with last on)
    ratios = [b["tok_s"] / a["tok_s"] for a, b in zip(off, on, strict=True)]
    same = sum(x == y for x, y in zip(off[0]["texts"], on[0]["texts"], strict=True))
    drafted, accepted, steps = (sum(r[k] for r in on) for k in ("drafted", "accepted", "steps"))
    wall = [b["wall_tok_s"] / a["wall_tok_s"] for a, b in zip(off, on, strict=True)]
    return {"prompt": prompt, "sampling": sampling, "ratio": statistics.median(ratios), "ratios": ratios,
            "wall_ratio": statistics.median(wall), "prefill_s": statistics.median(r["prefill_s"] for r in rounds),
            "decode_s_off": statistics.median(r["decode_s"] for r in off),
            "tok_s_off": statistics.median(r["tok_s"] for r in off), "tok_s_on": statistics.median(r["tok_s"] for r in on),
            "acceptance": accepted / drafted if drafted else None,
            "tokens_per_verify_step": (accepted + steps) / steps if steps else None,
            "drafted_per_token": drafted / sum(r["tokens"] for r in on),
            "identical": f"{same}/{len(off[0]['texts'])}", "load": [round(r["load"], 1) for r in rounds]}


def line(r: dict) -> str:
    acc = "-" if r["acceptance"] is None else f"{100 * r['acceptance']:.0f}%"
    per = "-" if r["tokens_per_verify_step"] is None else f"{r['tokens_per_verify_step']:.2f}"
    return (f"parallel {r.get('parallel', '?'):<2} {r['prompt']:<28} {r['sampling']:<7} on/off {r['ratio']:.2f} (rounds "
            f"{', '.join(f'{x:.2f}' for x in r['ratios'])}) · {r['tok_s_off']:.1f} → {r['tok_s_on']:.1f} tok/s · "
            f"acceptance {acc} · tokens/verify step {per} · drafted/token {r['drafted_per_token']:.2f} · "
            f"identical {r['identical']} · load {r['load']} · wall on/off {r.get('wall_ratio', 0):.2f}, "
            f"prefill {r.get('prefill_s', 0):.1f} s vs decode {r.get('decode_s_off', 0):.1f} s · "
            f"step cost {r.get('cost_ms')} ms")


VIEWS = {"by_setting": {"rows": "results", "columns": [
    ["parallel", "{parallel}"], ["prompt", "{prompt}"], ["sampling", "{sampling}"],
    ["decode speed on/off (median)", "**{ratio:.2f}**"],
    ["per round pair", "{ratios_text}"], ["decode tok/s off → on", "{tok_s_off:.1f} → {tok_s_on:.1f}"],
    ["guesses kept", "{acceptance_pct}"], ["tokens per verify step", "{per_step}"],
    ["guesses per output token", "{drafted_per_token:.2f}"], ["identical outputs", "{identical}"],
    ["load per round", "{load_text}"], ["wall on/off (with prefill)", "{wall_ratio:.2f}"],
    ["prefill s / decode s (off)", "{prefill_s:.1f} / {decode_s_off:.1f}"],
    ["step cost model (ms)", "{cost_ms}"]]}}
def for_figure(r: dict) -> dict:
    return {**{k: v for k, v in r.items() if k != "texts"},
            "ratios_text": ", ".join(f"{x:.2f}" for x in r["ratios"]),
            "acceptance_pct": "–" if r["acceptance"] is None else f"{100 * r['acceptance']:.0f}%",
            "per_step": "–" if r["tokens_per_verify_step"] is None else f"{r['tokens_per_verify_step']:.2f}",
            "load_text": ", ".join(f"{x:.1f}" for x in r["load"])}


def write(args: argparse.Namespace, results: list[dict]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from figures import write_figure

    how = (f"bench/bench_speculative.py --prompts {args.prompts} --samplings {args.samplings} --docs {args.docs} "
           f"--max-tokens {args.max_tokens} --parallel {args.parallel} --threads {args.threads} --pairs {args.pairs}"
           + (f" --kv-cache {args.kv_cache}" if args.kv_cache != "f16" else ""))
    loads = [x for r in results for x in r["load"]]
    write_figure(args.figure, {"results": [for_figure(r) for r in results], "cores": os.cpu_count(),
                               "parallel": args.parallel, "threads": args.threads, "docs": args.docs,
                               "max_tokens": args.max_tokens, "kv_cache": args.kv_cache}, VIEWS, how=how,
                 where=f"{os.cpu_count()}-core machine, {args.where}, 1-min load {min(loads):.1f}-{max(loads):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", default="wikipedia_style_rephrasing,tutorial,math")
    ap.add_argument("--samplings", default="greedy,study")
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--offset", type=int, default=9000, help="first wiki extract used (tests use the first ones)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--parallel", default="8", help="one or more, comma-separated (an engine each)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--kv-cache", default="f16", choices=["f16", "q8_0"], help="engine.kv_cache")
    ap.add_argument("--pairs", type=int, default=1, help="ABBA blocks per (prompt, sampling)")
    ap.add_argument("--where", default="shared with other agents' work", help="the machine's state, for the figure")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--figure", default=None, help="write bench/results/NAME.json for the docs (after every pair)")
    args = ap.parse_args()
    print(f"cores {os.cpu_count()} · parallel {args.parallel} · threads {args.threads or 'default'} · "
          f"{args.docs} docs x {args.max_tokens} tokens · OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    results = asyncio.run(measure(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
