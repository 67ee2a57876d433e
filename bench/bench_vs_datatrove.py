"""rephraser vs DataTrove's InferenceRunner against the SAME local OpenAI-compatible server.

Both drive the fake server (tests/fakes/openai_server.py, fixed latency per request, so the server
is never the bottleneck and differences are the clients' own overhead) with the same documents, the
same rendered prompt, the same max_tokens and the same number of requests in flight. DataTrove uses
its "endpoint" server type (no server launch) and writes JSONL; rephraser uses engine kind "openai"
and writes its Parquet parts with manifests. Prints docs/s and output tok/s of each and the ratio.
Needs `pip install datatrove`. Usage:
    python bench/bench_vs_datatrove.py [--docs 400] [--delay-ms 100] [--in-flight 32] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plan import start_server, write_docs  # noqa: E402 - sibling bench helper


def run_datatrove(docs: list[dict], prompt, port: int, in_flight: int, max_tokens: int, out: Path) -> tuple[float, int]:
    from datatrove.data import Document
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
    from datatrove.pipeline.writers import JsonlWriter

    async def rollout(document, generate):
        result = await generate({"messages": [{"role": "user", "content": prompt.render(document.text)}],
                                 "max_tokens": max_tokens, "temperature": 1.0, "top_p": 0.95})
        return {"text": result.text, "usage": result.usage}

    config = InferenceConfig(server_type="endpoint", model_name_or_path="fake-model",
                             endpoint_url=f"http://127.0.0.1:{port}", max_concurrent_generations=in_flight,
                             metric_interval=3600)
    runner = InferenceRunner(rollout_fn=rollout, config=config, output_writer=JsonlWriter(str(out / "data"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                                                          compression=None),
                             checkpoints_local_dir=str(out / "ckpt"), records_per_chunk=100)
    documents = [Document(text=d["text"], id=d["id"]) for d in docs]
    executor = LocalPipelineExecutor(pipeline=[documents, runner], tasks=1, logging_dir=str(out / "logs"))
    t0 = time.monotonic()
    executor.run()
    wall = time.monotonic() - t0
    tokens = 0
    import gzip

    for f in (out / "data").glob("*"):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt") as fh:
            for line in fh:
                for r in json.loads(line)["metadata"]["rollout_results"]:
                    tokens += r["usage"]["completion_tokens"]
    return wall, tokens


def run_rephraser(docs_path: Path, port: int, in_flight: int, max_tokens: int, out: Path) -> tuple[float, int]:
    # Import what the run loads lazily before the clock starts, as DataTrove's imports above are.
    import rephraser.cost  # noqa: F401
    import rephraser.engines.openai_http  # noqa: F401
    import rephraser.postprocess.contract  # noqa: F401
    import rephraser.sources  # noqa: F401
    from rephraser.config import validate
    from rephraser.generate.runner import run_config

    cfg = validate({
        "source": {"path": str(docs_path)}, "prompts": ["faq"], "max_in_flight": in_flight,
        "engine": {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "fake-model"},
        "sampling": {"max_tokens": max_tokens}, "output": {"dir": str(out), "rows_per_part": 100},
    })
    t0 = time.monotonic()
    stats = run_config(cfg, progress=False)
    return time.monotonic() - t0, stats.tokens.completion


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--delay-ms", type=float, default=100)
    ap.add_argument("--in-flight", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=128)
    a = ap.parse_args()
    from rephraser.prompts.registry import resolve_prompt

    prompt = resolve_prompt("faq")
    server, port = start_server(a.delay_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            write_docs(t / "docs.jsonl", a.docs)
            docs = [json.loads(line) for line in (t / "docs.jsonl").read_text().splitlines()]
            dt_wall, dt_tok = run_datatrove(docs, prompt, port, a.in_flight, a.max_tokens, t / "dt")
            rp_wall, rp_tok = run_rephraser(t / "docs.jsonl", port, a.in_flight, a.max_tokens, t / "rp")
    finally:
        server.kill()
    print(f"{a.docs} docs, fake server {a.delay_ms} ms/request, {a.in_flight} in flight, max_tokens {a.max_tokens}")
    print(f"{'':10} {'wall_s':>8} {'docs/s':>8} {'out tok/s':>10}")
    for name, wall, tok in (("datatrove", dt_wall, dt_tok), ("rephraser", rp_wall, rp_tok)):
        print(f"{name:10} {wall:8.2f} {a.docs / wall:8.1f} {tok / wall:10.0f}")
    print(f"ratio rephraser/datatrove: docs/s {dt_wall / rp_wall:.2f}, out tok/s {(rp_tok / rp_wall) / (dt_tok / dt_wall):.2f}")


if __name__ == "__main__":
    main()
