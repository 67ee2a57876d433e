"""Resume cost: seconds from `run` start to the first NEW model request, vs documents already done.

For each N, builds an output folder in which the first N documents of the input are committed (in
1,000-row parts, as a real run leaves them), then resumes it with an instant in-process engine and
records when the first generate() call arrives. Prints the manifest-reading time, the time to first
new request, and its ratio to the floor of merely parsing the input's skipped JSONL lines with
json.loads (work any resume that verifies its input must do).

    .venv/bin/python bench/bench_resume.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_orchestration import InstantEngine  # bench/ is the script's folder, so on sys.path

from rephraser.config import RunConfig
from rephraser.engines.base import Completion, GenerationRequest
from rephraser.generate.checkpoint import Checkpoint, shard_tag
from rephraser.generate.runner import run_config
from rephraser.prompts.registry import resolve_prompt
from rephraser.records import Row, text_hash
from rephraser.run_identity import prepare


class FirstCallEngine(InstantEngine):
    """Answers instantly and remembers when the first request arrived."""

    def __init__(self) -> None:
        self.first_call: float | None = None

    async def generate(self, request: GenerationRequest) -> Completion:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        text = "Q: What is it?\nA: It is a document.\n\nQ: Why?\nA: Because it is."
        return Completion(text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=12)


def build(root: Path, n_done: int, n_new: int) -> RunConfig:
    corpus = root / "in.jsonl"
    with open(corpus, "w") as f:
        for i in range(n_done + n_new):
            f.write(json.dumps({"id": f"d{i:07d}", "text": f"Document {i} says something about topic {i % 97}."}) + "\n")
    cfg = RunConfig.model_validate({"source": {"path": str(corpus)}, "prompts": ["faq"],
                                    "output": {"dir": str(root / "out")}, "postprocess": {"enabled": False}})
    prepare(cfg, {p.name: p.hash for p in [resolve_prompt("faq")]})
    ck = Checkpoint(root / "out", shard_tag(0, 1))
    ck.load()
    spec = resolve_prompt("faq")
    for start in range(0, n_done, 1000):
        rows, hashes = [], {}
        for i in range(start, min(n_done, start + 1000)):
            doc_id, text = f"d{i:07d}", f"Document {i} says something about topic {i % 97}."
            rows.append(Row(id=doc_id, prompt="faq", status="ok", source_text=text, generation="x",
                            prompt_hash=spec.hash, completion_tokens=1))
            hashes[doc_id] = text_hash(text)
        ck.commit(rows, hashes)
    return cfg


def measure(n_done: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build(Path(tmp), n_done, 50)
        t = time.perf_counter()
        with open(cfg.source.path) as f:
            for line in f:
                json.loads(line)
        floor = time.perf_counter() - t
        engine = FirstCallEngine()
        t0 = time.perf_counter()
        stats = run_config(cfg, progress=False, engine=engine)
        assert stats.session.units_run == 50 and stats.session.units_done_before == n_done
        return {"done": n_done, "manifests_s": stats.session.resume_s,
                "first_request_s": engine.first_call - t0, "parse_floor_s": floor}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    print(f"{'done docs':>10} {'manifests s':>12} {'1st new request s':>18} {'json floor s':>13} {'ratio':>6}")
    for n in (int(x) for x in args.sizes.split(",")):
        r = measure(n)
        ratio = r["first_request_s"] / max(r["parse_floor_s"], 1e-9)
        print(f"{r['done']:>10,} {r['manifests_s']:>12.3f} {r['first_request_s']:>18.3f} {r['parse_floor_s']:>13.3f} {ratio:>6.1f}")


if __name__ == "__main__":
    main()
