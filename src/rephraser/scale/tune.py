"""`rephraser tune`: measure the embedded engine's settings on a pilot of the user's own documents and
prompts, and keep the best.

Each trial is an ordinary `rephraser run` of the first few documents (the same prompts, sampling and
post-processing, max_tokens capped) in a child process and a fresh scratch folder: a child because
libgomp reads its wait policy once per process, a fresh folder so nothing comes from the request cache.
Its figure is the run's own output tok/s. The sweep moves one knob at a time from the current settings
(KV cache type, parallel, n_batch, threads, OpenMP wait, speculation and draft length) and keeps a value only when it
beats the best so far by MIN_GAIN. Then the winner and the starting settings run again in ABBA order,
so both see the same machine: the winner is written only if it still wins there. A time budget stops
the sweep early (the trials done so far still count).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_write_text
from rephraser.config import LlamaCppConfig, RunConfig, validate
from rephraser.config.marks import mark_of
from rephraser.errors import ConfigError
from rephraser.logs import get_logger

log = get_logger(__name__)

MIN_GAIN = 1.03  # a setting must beat the best so far by 3% to be kept (run-to-run noise is of that size)
KNOBS: dict[str, list[Any]] = {  # engine fields swept, in this order
    "kv_cache": ["f16", "q8_0"],
    "speculative": ["off", "ngram"],
    "speculative_max_draft": [4, 8],
    "parallel": [4, 8, 16],
    "threads": [None, 1, 2],
    "cpu_wait": ["bounded", "passive", "libgomp"],
    "n_batch": [None, 256],
}


@dataclass
class Trial:
    settings: dict[str, Any]
    tok_s: float | None  # None: the trial failed
    wall_s: float
    error: str | None = None
    role: str = "sweep"  # sweep | final-start | final-best


@dataclass
class TuneResult:
    start: dict[str, Any]
    best: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    ratio: float | None = None  # best / start in the final ABBA check
    written: bool = False
    budget_hit: bool = False

    def output_changes(self) -> list[str]:
        """Chosen knobs that are part of the run's fingerprint (kv_cache, n_batch): the tuned config's outputs
        differ from the starting config's, so a run begun under the old values does not resume under it."""
        marks = {k: mark_of(LlamaCppConfig, k) for k in KNOBS}
        return [k for k, v in self.best.items() if v != self.start.get(k) and (m := marks[k]) is not None and m.output]


def pilot(cfg: RunConfig, docs: int, max_tokens: int) -> dict[str, Any]:
    data = cfg.model_dump(mode="json")
    if data["engine"]["kind"] != "llamacpp":
        raise ConfigError("rephraser tune sweeps the embedded engine (engine.kind llamacpp); for vLLM see "
                          "bench/bench_vllm_sweep.py")
    data["source"].update(limit=docs, shard_index=0, shard_count=1)
    data["sampling"]["max_tokens"] = min(data["sampling"]["max_tokens"], max_tokens)
    data["output"]["hub_repo"] = None
    return data


def run_trial(base: dict[str, Any], settings: dict[str, Any], timeout_s: float, workdir: Path) -> Trial:
    data = json.loads(json.dumps(base))
    data["engine"].update(settings)
    out = Path(tempfile.mkdtemp(prefix="trial-", dir=workdir))
    data["output"]["dir"] = str(out / "out")
    cfg_path = out / "config.yaml"
    atomic_write_text(cfg_path, validate(data, origin="tune trial").to_yaml())
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "rephraser.cli", "run", "--config", str(cfg_path), "--no-progress"],
                           capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return Trial(settings, None, time.monotonic() - t0, f"timeout after {timeout_s:.0f} s")
    wall = time.monotonic() - t0
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
        return Trial(settings, None, wall, lines[-1][:200] if lines else f"exit {p.returncode}")
    stats = json.loads((out / "out" / "stats.json").read_text(encoding="utf-8"))
    return Trial(settings, float(stats["session"]["output_tok_per_s"]), wall)


def tune(cfg: RunConfig, *, docs: int = 8, max_tokens: int = 128, budget_s: float = 900.0,
         knobs: list[str] | None = None, trial_timeout_s: float = 600.0) -> TuneResult:
    base = pilot(cfg, docs, max_tokens)
    start = {k: base["engine"].get(k) for k in KNOBS}
    names = knobs or list(KNOBS)
    unknown = sorted(set(names) - set(KNOBS))
    if unknown:
        raise ConfigError(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    t_end = time.monotonic() + budget_s
    result = TuneResult(start=start, best=dict(start))
    with tempfile.TemporaryDirectory(prefix="rephraser-tune-") as tmp:
        def trial(settings: dict[str, Any], role: str = "sweep") -> Trial:
            t = run_trial(base, settings, trial_timeout_s, Path(tmp))
            t.role = role
            result.trials.append(t)
            shown = ", ".join(f"{k}={v}" for k, v in settings.items() if start.get(k) != v) or "starting settings"
            log.info(f"tune: {shown}: " + (f"{t.tok_s:,.1f} tok/s" if t.tok_s is not None else f"failed ({t.error})")
                + f" [{t.wall_s:.0f} s, load {os.getloadavg()[0]:.1f}]")
            return t

        best_rate = trial(dict(start)).tok_s or 0.0
        for name in names:
            for value in KNOBS[name]:
                if value == result.best[name]:
                    continue
                if name == "speculative_max_draft" and result.best["speculative"] == "off":
                    continue
                if time.monotonic() > t_end:
                    result.budget_hit = True
                    break
                t = trial({**result.best, name: value})
                if t.tok_s is not None and t.tok_s > best_rate * MIN_GAIN:
                    result.best, best_rate = {**result.best, name: value}, t.tok_s
        if result.best != start:  # the final word: both again, side by side (ABBA)
            runs = {"start": [], "best": []}
            for role in ("start", "best", "best", "start"):
                runs[role].append(trial(dict(start if role == "start" else result.best), f"final-{role}").tok_s or 0.0)
            a, b = statistics.median(runs["start"]), statistics.median(runs["best"])
            result.ratio = b / a if a else None
            if not (result.ratio and result.ratio > 1.0):
                result.best = dict(start)
    return result


def write_tuned(cfg: RunConfig, result: TuneResult, path: Path) -> None:
    """The config with the best engine settings, its measured table as a YAML comment at the top."""
    data = cfg.model_dump(mode="json")
    data["engine"].update(result.best)
    tuned = validate(data, origin="tuned config")
    lines = ["# rephraser tune: output tok/s of a pilot run per setting, measured on this machine",
             f"# ({time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}); final ABBA ratio best/start: "
             + (f"{result.ratio:.2f}" if result.ratio else "-")]
    if result.output_changes():
        lines.append(f"# changes outputs (in the run's fingerprint): {', '.join(result.output_changes())}")
    for t in result.trials:
        changed = {k: v for k, v in t.settings.items() if result.start.get(k) != v}
        rate = f"{t.tok_s:8.1f}" if t.tok_s is not None else f"  failed: {t.error}"
        lines.append(f"#   {t.role:<12} {rate}  {json.dumps(changed) if changed else 'starting settings'}")
    atomic_write_text(path, "\n".join(lines) + "\n" + tuned.to_yaml())
    result.written = True
