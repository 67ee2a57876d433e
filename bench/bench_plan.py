"""How close is `rephraser plan` to the run it plans? Pilot projection vs the actual full run.

Starts the fake OpenAI-compatible server (fixed latency per request, so the only variable is our
own pipeline), writes a JSONL input, runs `rephraser plan --json` and then the real
`rephraser run` on the same config, and prints projected/actual for wall time and output tokens.
Both are measured as whole CLI processes. Usage:
    python bench/bench_plan.py [--docs 400] [--pilot-docs 20] [--delay-ms 100] [--in-flight 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "rephraser.cli"]
TEXT = ("the river flows north through a wide valley where farmers grow wheat barley and oats "
        "near its banks during the short summer while merchants carry grain to distant towns")
WORDS = TEXT.split()


def start_server(delay_ms: float) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests/fakes/openai_server.py"), "--port", "0",
                             "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, int(line.split()[1])


def write_docs(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            words = rng.randint(30, 160)
            f.write(json.dumps({"id": f"doc{i}", "text": " ".join(rng.choice(WORDS) for _ in range(words))}) + "\n")


def write_config(path: Path, docs: Path, port: int, out: Path, in_flight: int, prompt: str) -> None:
    path.write_text(
        f"source: {{path: {docs}}}\nprompts: [{prompt}]\n"
        f"engine: {{kind: openai, base_url: 'http://127.0.0.1:{port}/v1', model: fake-model}}\n"
        f"sampling: {{max_tokens: 128}}\noutput: {{dir: {out}, rows_per_part: 100}}\n"
        f"max_in_flight: {in_flight}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--pilot-docs", type=int, default=20)
    ap.add_argument("--delay-ms", type=float, default=100)
    ap.add_argument("--in-flight", type=int, default=8)
    ap.add_argument("--prompt", default="faq")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    server, port = start_server(a.delay_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            write_docs(t / "docs.jsonl", a.docs)
            print(f"{a.docs} docs, pilot {a.pilot_docs}, server latency {a.delay_ms} ms, in flight {a.in_flight}")
            print("repeat  projected_s  actual_s  time_ratio  projected_tok  actual_tok  tok_ratio")
            for r in range(a.repeats):
                out = t / f"out{r}"
                write_config(t / "run.yaml", t / "docs.jsonl", port, out, a.in_flight, a.prompt)
                plan = subprocess.run([*CLI, "plan", "--config", str(t / "run.yaml"), "--pilot-docs",
                                       str(a.pilot_docs), "--json"], capture_output=True, text=True, check=True)
                proj = json.loads(plan.stdout)["projection"]
                t0 = time.monotonic()
                subprocess.run([*CLI, "run", "--config", str(t / "run.yaml"), "--no-progress"],
                               capture_output=True, text=True, check=True)
                actual_s = time.monotonic() - t0
                stats = json.loads((out / "stats.json").read_text())
                actual_tok = stats["tokens"]["completion"]
                ps = proj["wall_hours"] * 3600
                print(f"{r:>6}  {ps:11.2f}  {actual_s:8.2f}  {ps / actual_s:10.2f}  "
                      f"{proj['output_tokens']:13.0f}  {actual_tok:10d}  {proj['output_tokens'] / actual_tok:9.3f}")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
