"""How true is the progress line's ETA? A real small `rephraser run` on the embedded model, its ETA sampled.

    nice -n 5 .venv/bin/python bench/bench_progress_eta.py                 # 16 extracts x faq,tutorial, max_tokens 192
    nice -n 5 .venv/bin/python bench/bench_progress_eta.py --docs 4 --prompts faq --figure progress_eta_try

Runs the run in this process with its progress object replaced by a recording subclass: every
`--every` seconds (on the event loop, like the display's own ticker) it takes the line the bar would show
(`RunProgress.snapshot`) and reads the ETA off it, exactly as a user reads it. When the last unit has
finished, the true time left at each sample is known, and the script prints ETA / true at 5, 10 and 20 s
after the first decode step (the first sample showing a tok/s) and at 25/50/75% of the time from that step
to the last unit. 1.0 is a perfect estimate; > 1 says too long. The ratio does not depend much on the
machine's load (rate and time left slow down together), but the load average is printed beside it.
Documents are Wikipedia extracts from the far end of the embedded set (`--offset`), which no test uses.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from figures import FigureError, load_figure, write_figure

from rephraser.config import RunConfig
from rephraser.generate import shard as shard_module
from rephraser.generate.progress import RunProgress
from rephraser.generate.runner import run_config
from rephraser.sources.validate import Document
from rephraser.sources.wiki import read_wiki

ETA = re.compile(r"eta\D*?(?:(\d+):)?(\d+):(\d\d)")
MARKS = [("5 s", "after", 5.0), ("10 s", "after", 10.0), ("20 s", "after", 20.0),
         ("25%", "share", 0.25), ("50%", "share", 0.5), ("75%", "share", 0.75)]
VIEWS = {"ratios": {"rows": "runs", "columns": [
    ["estimator", "{label}"], ["job", "{docs} × {prompts}, max_tokens {max_tokens}"],
    ["+5 s", "{r5:.2f}"], ["+10 s", "{r10:.2f}"], ["+20 s", "{r20:.2f}"],
    ["25%", "{r25:.2f}"], ["50%", "{r50:.2f}"], ["75%", "{r75:.2f}"],
    ["run", "{last_unit_s:.0f} s"], ["load", "{load_before:.1f} → {load_after:.1f}"], ["measured", "{measured}"]]}}
KEYS = {"5 s": "r5", "10 s": "r10", "20 s": "r20", "25%": "r25", "50%": "r50", "75%": "r75"}


def eta_seconds(info: str) -> float | None:
    m = ETA.search(info)
    if m is None:
        return None
    h, mm, ss = m.groups()
    return int(h or 0) * 3600 + int(mm) * 60 + int(ss)


class Recorder(RunProgress):
    """The run's progress, sampled on the event loop; the total is set here (a run not on a terminal has none)."""

    total_units = 0
    every_s = 1.0
    last: Recorder | None = None

    def __init__(self, **kw):
        kw["total"] = self.total_units
        super().__init__(**kw)
        self.samples: list[dict] = []
        self.end_t: float | None = None
        self.units: list[dict] = []  # when each unit finished, with its output tokens
        self._sampler: asyncio.Task | None = None
        Recorder.last = self

    def __enter__(self) -> Recorder:
        super().__enter__()
        self._sampler = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        super().__exit__(*exc)

    async def _sample(self) -> None:
        while True:
            now = time.monotonic()
            info = self.snapshot(now)["info"]
            self.samples.append({"t": now, "info": info, "eta_s": eta_seconds(info), "rate": "tok/s" in info,
                                 "raw": self.raw()})
            await asyncio.sleep(self.every_s)

    RAW = ("tokens_decoded", "decode_seconds", "prefill_seconds", "prompts_prefilled", "prompt_tokens_fed",
           "decode_steps", "decode_rows")

    def raw(self) -> dict:
        """The counters an estimate can read at this moment (to try other estimators on a recorded run)."""
        e = {k: getattr(self.engine, k, None) for k in self.RAW}
        return {**e, "finished_tokens": self.caller.counters.completion_tokens_generated,
                "units_done": self.units_done, "fresh_units": self.fresh_units, "in_flight": self.in_flight()}

    def advance(self, rows) -> None:
        super().advance(rows)
        self.units.append({"t": time.monotonic(), "tokens": sum(r.completion_tokens or 0 for r in rows)})
        if self.units_done >= (self.total or 0):
            self.end_t = time.monotonic()  # the last unit: what the ETA predicts (stats and dedup come after)


def documents(path: Path, n: int, offset: int, max_chars: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        kept = 0
        for i, checked in enumerate(read_wiki(max_chars)):
            if i >= offset and isinstance(checked.item, Document) and len(checked.item.text) > 300:
                f.write(json.dumps({"id": f"w{i}", "text": checked.item.text}) + "\n")
                kept += 1
                if kept == n:
                    return
    sys.exit(f"error: only {kept} usable extracts after offset {offset}")


def ratios(rec: Recorder) -> tuple[list[dict], float]:
    """ETA / true at the marks, from the samples; and the first decode step's offset from the run's start."""
    if rec.end_t is None:
        sys.exit("error: the run ended before its last unit (see its log)")
    first = next((s["t"] for s in rec.samples if s["rate"]), None)
    if first is None:
        sys.exit("error: no sample showed a decode rate")
    span = rec.end_t - first
    out = []
    for when, kind, v in MARKS:
        target = first + (v if kind == "after" else v * span)
        if target >= rec.end_t:
            continue
        s = min((s for s in rec.samples if s["eta_s"] is not None), key=lambda s: abs(s["t"] - target))
        true_s = rec.end_t - s["t"]
        out.append({"when": when, "at_s": s["t"] - first, "eta_s": s["eta_s"], "true_s": true_s,
                    "ratio": s["eta_s"] / true_s if true_s > 0 else None, "info": s["info"]})
    return out, first - rec.t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--prompts", default="faq,tutorial")
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--offset", type=int, default=9500, help="first wiki extract used (tests use the first ones)")
    ap.add_argument("--max-chars", type=int, default=1500)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples of the progress line")
    ap.add_argument("--figure", default="progress_eta")
    ap.add_argument("--raw", type=Path, help="also write every sample's counters here (JSON)")
    ap.add_argument("--label", default="", help="what this measurement is (e.g. 'before: max_tokens prior')")
    ap.add_argument("--fresh", action="store_true", help="start the figure over instead of adding a row to it")
    args = ap.parse_args()
    prompts = args.prompts.split(",")
    Recorder.total_units, Recorder.every_s = args.docs * len(prompts), args.every
    shard_module.RunProgress = Recorder  # type: ignore[misc]  # the shard builds its progress from this name
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "docs.jsonl"
        documents(corpus, args.docs, args.offset, args.max_chars)
        cfg = RunConfig.model_validate({
            "source": {"path": str(corpus)}, "prompts": prompts, "engine": {"parallel": args.parallel},
            "sampling": {"max_tokens": args.max_tokens, "seed": 0}, "output": {"dir": str(Path(tmp) / "out")}})
        stats = run_config(cfg, progress=False)
    load_after = os.getloadavg()[0]
    rec = Recorder.last
    assert rec is not None
    marks, first_s = ratios(rec)
    session = stats.session
    where = f"{os.cpu_count()} cores at load average {load_before:.1f} → {load_after:.1f}"
    print(f"{args.label or 'ETA / true'}: first decode step {first_s:.1f} s after the run's start; "
          f"last unit {rec.end_t - rec.t0:.1f} s; {session.output_tok_per_s or 0:.0f} tok/s over the run; {where}")
    for m in marks:
        print(f"  {m['when']:>5} (+{m['at_s']:5.1f} s): eta {m['eta_s']:6.0f} s, true {m['true_s']:6.0f} s, "
              f"ratio {m['ratio']:.2f}   [{m['info']}]")
    ratio_at = {m["when"]: m["ratio"] for m in marks}  # a mark past the run's end: none
    run = {"label": args.label or "unlabelled", "docs": args.docs, "prompts": args.prompts,
           "max_tokens": args.max_tokens, "parallel": args.parallel, "first_decode_s": first_s,
           "last_unit_s": rec.end_t - rec.t0, "load_before": load_before, "load_after": load_after,
           "measured": datetime.date.today().isoformat(), **{key: ratio_at.get(when) for when, key in KEYS.items()}}
    if args.raw:
        args.raw.write_text(json.dumps({"t0": rec.t0, "end_t": rec.end_t, "total": rec.total, "parallel": args.parallel,
                                        "max_tokens": args.max_tokens, "samples": rec.samples, "units": rec.units}))
    save(args.figure, run, args.fresh)


def save(figure: str, run: dict, fresh: bool) -> None:
    """Add this run to the figure (a row per label and job: a rerun of both replaces its row)."""
    same = ("label", "docs", "prompts", "max_tokens", "parallel")
    runs = [] if fresh else [r for r in _existing(figure) if any(r.get(k) != run[k] for k in same)]
    write_figure(figure, {"runs": [*runs, run]}, VIEWS,
                 how="bench/bench_progress_eta.py --label L [--docs N --prompts P --max-tokens M] (a row per label and job)",
                 where="shared 2-core machine (load per row), bench niced",
                 note="ETA / true time left: 1.0 is exact, > 1 too long; +N s after the first decode step, "
                      "N% of the time from that step to the last unit")


def _existing(figure: str) -> list[dict]:
    try:
        return list(load_figure(figure)["data"]["runs"])
    except (FigureError, KeyError, TypeError):
        return []

if __name__ == "__main__":
    main()
