"""Time `make quickstart`'s run and write the README's quickstart figure (bench/results/quickstart.json).

    .venv/bin/python bench/bench_quickstart.py                 # the quickstart exactly: 20 extracts x faq,table
    .venv/bin/python bench/bench_quickstart.py --limit 2 --figure quickstart_try   # a quick check of the script

Runs `rephraser run --limit 20 --prompts faq,table` into a fresh temporary folder (so nothing is reused
from a cache), then reads the run's statistics (`rephraser stats`): calls, output tokens, rows ok per prompt. The machine's
load average before and after goes into the figure, because on a shared 2-core machine the wall time
says more about the neighbours than about rephraser. Then `bench/render_docs.py` updates the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import write_figure

VIEWS = {"readme": {"text": (
    "{calls} constrained calls, ≈{tokens_k:.1f}k output tokens in {seconds:.0f} s at {tok_s:.0f} tok/s on "
    "{where_short} ({measured}, {recorded_as}): faq {faq_ok}/{docs} and table {table_ok}/{docs} rows ok")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--figure", default="quickstart")
    ap.add_argument("--where", default=None, help="the machine, e.g. 'a quiet 2-core machine, fresh clone'")
    ap.add_argument("--run-args", default="", help="more `rephraser run` flags (e.g. another engine, to check this script)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quickstart"
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "rephraser.cli", "run", "--limit", str(args.limit), "--prompts",
                            "faq,table", "--output", str(out), "--no-progress", *shlex.split(args.run_args)],
                           capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if r.returncode:
            sys.exit(f"error: the quickstart run failed: {r.stderr.strip().splitlines()[-1:]}")
        from rephraser.postprocess.stats import compute_stats

        prompts = compute_stats(out, quality=False)["prompts"]
    load_after = os.getloadavg()[0]
    tokens = sum((p.get("output_tokens") or {}).get("completion_total") or 0 for p in prompts.values())
    calls = sum((p.get("ok") or 0) + (p.get("contract_rejected") or 0) for p in prompts.values())
    where_short = args.where or f"{os.cpu_count()} cores at load average {load_before:.1f} → {load_after:.1f}"
    data = {"docs": args.limit, "seconds": seconds, "calls": calls, "tokens_k": tokens / 1e3,
            "tok_s": tokens / seconds if seconds else None, "where_short": where_short,
            "faq_ok": prompts.get("faq", {}).get("ok"), "table_ok": prompts.get("table", {}).get("ok")}
    print(json.dumps(data, indent=2))
    how = " ".join(["bench/bench_quickstart.py", f"--limit {args.limit}"] + ([f"--run-args {args.run_args!r}"] if args.run_args else []))
    write_figure(args.figure, data, VIEWS, how=how, where=where_short)


if __name__ == "__main__":
    main()
