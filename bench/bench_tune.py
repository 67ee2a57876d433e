"""Does `rephraser tune` write a config that beats the defaults on this machine?

    .venv/bin/python bench/bench_tune.py [--docs 4 --max-tokens 96 --budget-s 300 --figure tune_check]

Runs the tune sweep (scale/tune.py: one knob at a time from the default engine settings, child
`rephraser run` pilots on the first embedded Wikipedia extracts with the wikipedia_style_rephrasing and
tutorial prompts at the study's sampling, then its own ABBA check of the winner). Then, as a check the
sweep did not choose on, the default and the tuned settings run again side by side, ABBA, on other
documents (shard 1 of 50 of the embedded set): the ratio tuned / default there is the answer. Output
tok/s is each pilot run's own figure (stats.json), load average beside each run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

from rephraser.config import validate
from rephraser.scale.tune import pilot, run_trial, tune

PROMPTS = ["wikipedia_style_rephrasing", "tutorial"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--budget-s", type=float, default=300.0)
    ap.add_argument("--knobs", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--blocks", type=int, default=1, help="ABBA blocks of the held-out check")
    ap.add_argument("--where", default="shared with other agents' work")
    ap.add_argument("--figure", default=None)
    args = ap.parse_args()
    cfg = validate({"prompts": PROMPTS}, origin="bench_tune")
    knobs = args.knobs.split(",") if args.knobs else None
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # tune logs each trial
    result = tune(cfg, docs=args.docs, max_tokens=args.max_tokens, budget_s=args.budget_s, knobs=knobs)
    changed = {k: v for k, v in result.best.items() if result.start.get(k) != v}
    print(f"tune chose {changed or 'the defaults'}; its own final check {result.ratio}", flush=True)
    check: dict[str, list[dict]] = {"default": [], "tuned": []}
    if args.figure:  # now, so a run stopped during the check keeps the sweep
        write(args, result, changed, check, None)
    if changed:
        base = pilot(cfg, args.docs, args.max_tokens)
        base["source"].update(shard_count=50, shard_index=1)  # documents the sweep never saw
        with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
            for _ in range(args.blocks):
                for side in ("default", "tuned", "tuned", "default"):
                    t = run_trial(base, dict(result.start if side == "default" else result.best), 900, Path(tmp))
                    check[side].append({"tok_s": t.tok_s, "load": round(os.getloadavg()[0], 2), "error": t.error})
                    print(f"check {side:<8} {t.tok_s} tok/s · load {os.getloadavg()[0]:.1f}"
                          + (f" · {t.error}" if t.error else ""), flush=True)
    ok = all(r["tok_s"] for side in check.values() for r in side)
    ratio = (statistics.median(r["tok_s"] for r in check["tuned"]) / statistics.median(r["tok_s"] for r in check["default"])
             if changed and ok else None)
    print(f"held-out check tuned / default: {ratio}")
    if args.figure:
        write(args, result, changed, check, ratio)


def write(args, result, changed, check, ratio) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from figures import write_figure

    trials = [{"role": t.role, "setting": json.dumps({k: v for k, v in t.settings.items() if result.start.get(k) != v})
               or "defaults", "tok_s": t.tok_s, "wall_s": t.wall_s, "error": t.error or ""} for t in result.trials]
    for t in trials:
        t["setting"] = "defaults" if t["setting"] == "{}" else t["setting"]
    loads = [r["load"] for side in check.values() for r in side] or [os.getloadavg()[0]]
    data = {"trials": trials, "chosen": json.dumps(changed) if changed else "the defaults",
            "tune_ratio": result.ratio, "check_ratio": ratio,
            "check_text": "; ".join(f"{side} " + ", ".join(f"{r['tok_s']:.1f}" for r in rows)
                                    for side, rows in check.items() if rows) or "–",
            "check_loads": ", ".join(f"{x:.1f}" for x in loads)}
    views = {"trials": {"rows": "trials", "columns": [["trial", "{role}"], ["engine setting (vs defaults)", "{setting}"],
                                                      ["output tok/s", "{tok_s:.1f}"], ["error", "{error}"]]},
             "summary": {"text": "tune chose {chosen}: {tune_ratio:.2f}× the defaults in its own final check, "
                                 "**{check_ratio:.2f}×** side by side on documents it never saw ({check_text} tok/s; "
                                 "load {check_loads})"}}
    how = (f"bench/bench_tune.py --docs {args.docs} --max-tokens {args.max_tokens} --budget-s {args.budget_s:.0f}"
           + (f" --knobs {args.knobs}" if args.knobs else "") + f" --blocks {args.blocks}")
    write_figure(args.figure, data, views, how=how,
                 where=f"{os.cpu_count()}-core machine, {args.where}, 1-min load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
