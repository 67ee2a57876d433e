"""The study's vLLM tuning sweep on one GPU, as a prepared script: tier 0, then tier 1, within a time budget.

    python bench/bench_vllm_sweep.py --config my_run.yaml --model HuggingFaceTB/SmolLM2-1.7B-Instruct \\
        --docs 512 --budget-s 3600 [--tp 1,2] [--json sweep.json]

NOT RUN YET: written without a GPU (no device was lent to the session that wrote it); the trial runner
and the failure classes are the ones `rephraser tune` uses on CPU (scale/tune.py), the vLLM keys are
the ones engines/vllm.py passes through. Expect to fix details on first contact with a GPU.

Tier 0 sweeps tensor_parallel_size x max_num_seqs x max_num_batched_tokens; tier 1 takes tier 0's best
and sweeps gpu_memory_utilization x speculation (none, n-gram, suffix). Every trial is an ordinary
`rephraser run` of the same pilot documents in a child process (a fresh vLLM engine, a fresh output
folder, so nothing comes from the cache), and its figure is the run's output tok/s. A failed trial is
classed like the study: OOM (CUDA / KV-cache memory), timeout, or server failure (anything else), and
the sweep goes on. The budget stops the sweep between trials. Prints the table, best first; as the
study found (speculation hurt models >= 4B, tier-1 changes made 8 of 18 models worse), the best of
tier 1 is kept only if it beats tier 0's best.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rephraser.config import load_yaml  # noqa: E402
from rephraser.scale.tune import run_trial  # noqa: E402

OOM_MARKS = ("out of memory", "outofmemoryerror", "no available memory for the cache blocks", "cuda error: out of memory",
             "insufficient memory", "kv cache")
SPECULATION = {
    "none": None,
    "ngram": {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4, "prompt_lookup_min": 2},
    "suffix": {"method": "suffix", "num_speculative_tokens": 32},
}


def failure_class(error: str | None) -> str | None:
    if error is None:
        return None
    low = error.lower()
    if low.startswith("timeout"):
        return "timeout"
    return "OOM" if any(m in low for m in OOM_MARKS) else "server failure"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, type=Path, help="run config (source, prompts, sampling)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--docs", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--tp", default="1")
    ap.add_argument("--max-num-seqs", default="256,512,1024,2048")
    ap.add_argument("--max-num-batched-tokens", default="8192,16384,32768")
    ap.add_argument("--gpu-memory-utilization", default="0.9,0.95")
    ap.add_argument("--speculation", default="none,ngram,suffix")
    ap.add_argument("--budget-s", type=float, default=3600.0)
    ap.add_argument("--trial-timeout-s", type=float, default=1200.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    cfg = load_yaml(args.config)
    base = cfg.model_dump(mode="json")
    base["engine"].update(kind="vllm", model=args.model, speculative="off")
    base["source"].update(limit=args.docs, shard_index=0, shard_count=1)
    base["sampling"]["max_tokens"] = min(base["sampling"]["max_tokens"], args.max_tokens)
    base["max_in_flight"] = max(base["max_in_flight"], 4096)  # keep vLLM's continuous batching full
    t_end = time.monotonic() + args.budget_s
    rows: list[dict] = []
    work = Path("out/vllm_sweep")
    work.mkdir(parents=True, exist_ok=True)

    def trial(tier: int, engine_args: dict) -> dict:
        t = run_trial(base, {"engine_args": engine_args}, args.trial_timeout_s, work)
        row = {"tier": tier, **{k: v for k, v in engine_args.items() if k != "speculative_config"},
               "speculation": next((n for n, c in SPECULATION.items() if c == engine_args.get("speculative_config")),
                                   "custom"),
               "tok_s": t.tok_s, "wall_s": round(t.wall_s, 1), "failure": failure_class(t.error), "error": t.error}
        rows.append(row)
        print(json.dumps(row), flush=True)
        return row

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",")]

    best0: dict | None = None
    for tp, seqs, tokens in itertools.product(ints(args.tp), ints(args.max_num_seqs), ints(args.max_num_batched_tokens)):
        if time.monotonic() > t_end:
            print("budget reached during tier 0", flush=True)
            break
        r = trial(0, {"tensor_parallel_size": tp, "max_num_seqs": seqs, "max_num_batched_tokens": tokens})
        if r["tok_s"] and (best0 is None or r["tok_s"] > best0["tok_s"]):
            best0 = r
    if best0 is None:
        sys.exit("error: no tier-0 trial finished; see the failures above")
    tier0 = {k: best0[k] for k in ("tensor_parallel_size", "max_num_seqs", "max_num_batched_tokens")}
    for util, spec in itertools.product((float(x) for x in args.gpu_memory_utilization.split(",")),
                                        args.speculation.split(",")):
        if time.monotonic() > t_end:
            print("budget reached during tier 1", flush=True)
            break
        ea = {**tier0, "gpu_memory_utilization": util}
        if SPECULATION[spec] is not None:
            ea["speculative_config"] = SPECULATION[spec]
        trial(1, ea)
    done = sorted((r for r in rows if r["tok_s"]), key=lambda r: -r["tok_s"])
    print("\nbest first:")
    for r in done:
        print(f"  tier {r['tier']} {r['tok_s']:10.1f} tok/s  " + ", ".join(
            f"{k}={r[k]}" for k in ("tensor_parallel_size", "max_num_seqs", "max_num_batched_tokens",
                                    "gpu_memory_utilization", "speculation") if r.get(k) is not None))
    fails = [r for r in rows if r["failure"]]
    for cls in ("OOM", "timeout", "server failure"):
        n = sum(r["failure"] == cls for r in fails)
        if n:
            print(f"  {cls}: {n} trial(s)")
    best1 = next((r for r in done if r["tier"] == 1), None)
    keep = best1 if best1 and best1["tok_s"] > best0["tok_s"] else best0
    print(f"keep: tier {keep['tier']} ({keep['tok_s']:.1f} tok/s vs tier-0 best {best0['tok_s']:.1f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
