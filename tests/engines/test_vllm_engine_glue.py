"""engines/vllm.py without a GPU: import guard, argument mapping, and the glue around AsyncLLM.

The last tests install a small stand-in `vllm` module shaped like vLLM's documented API
(AsyncEngineArgs dataclass, AsyncLLM.from_engine_args, async generate yielding RequestOutputs) to
check our side of the seam: chat templating, token counting, finish reasons, error mapping. They do
not claim anything about vLLM itself; the real engine needs a CUDA machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import types
from typing import Any

import pytest

from rephraser.config import VllmConfig
from rephraser.engines import vllm as veng
from rephraser.engines.base import ContextOverflowError, FatalEngineError, GenerationRequest, Sampling


def test_package_imports_without_vllm():
    code = "import sys, rephraser.engines.vllm, rephraser.cli; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_vllm_is_one_line_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    eng = veng.VLLMEngine(VllmConfig(model="m"))
    with pytest.raises(FatalEngineError) as e:
        asyncio.run(eng.start())
    assert "pip install" in str(e.value) and "rephraser[gpu]" in str(e.value)
    assert "\n" not in str(e.value)


def test_engine_args_mapping_defaults_and_passthrough():
    cfg = VllmConfig(model="HuggingFaceTB/SmolLM2-1.7B-Instruct", n_ctx=8192, engine_args={
        "tensor_parallel_size": 2, "data_parallel_size": 4, "max_num_seqs": 512,
        "max_num_batched_tokens": 16384, "gpu_memory_utilization": 0.95, "enable_prefix_caching": False,
    })
    args = veng.build_engine_args(cfg)
    assert args["model"] == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert args["max_model_len"] == 8192
    assert args["tensor_parallel_size"] == 2 and args["data_parallel_size"] == 4
    assert args["max_num_seqs"] == 512 and args["max_num_batched_tokens"] == 16384
    assert args["gpu_memory_utilization"] == 0.95
    assert args["enable_prefix_caching"] is False  # user beats our default
    assert args["enable_chunked_prefill"] is True  # our default (study setting)
    assert "speculative_config" not in args


@pytest.mark.parametrize("value, expected_tokens", [(True, 4), (6, 6), ({"num_speculative_tokens": 3}, 3)])
def test_ngram_speculation_shortcut(value, expected_tokens):
    args = veng.build_engine_args(VllmConfig(engine_args={"ngram_speculation": value}))
    assert args["speculative_config"]["method"] == "ngram"
    assert args["speculative_config"]["num_speculative_tokens"] == expected_tokens
    assert "ngram_speculation" not in args


def test_ngram_shortcut_off_and_conflicts():
    assert "speculative_config" not in veng.build_engine_args(
        VllmConfig(engine_args={"ngram_speculation": False}))
    raw = {"method": "ngram", "num_speculative_tokens": 5}
    assert veng.build_engine_args(VllmConfig(engine_args={"speculative_config": raw}))[
        "speculative_config"] == raw
    with pytest.raises(ValueError, match="not both"):
        veng.build_engine_args(VllmConfig(engine_args={"ngram_speculation": 4,
                                                                      "speculative_config": raw}))


def test_sampling_mapping_turns_top_k_zero_into_off():
    kw = veng.sampling_params_kwargs(Sampling(temperature=1.0, top_p=0.95, top_k=0, max_tokens=64, seed=7))
    assert kw == {"temperature": 1.0, "top_p": 0.95, "top_k": -1, "max_tokens": 64, "seed": 7}
    assert veng.sampling_params_kwargs(Sampling(top_k=64))["top_k"] == 64


# ---- stand-in vllm module ----------------------------------------------------------------------
class _Tok:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [len(w) for w in text.split()]

    template_kwargs: list[dict] = []

    def apply_chat_template(self, messages, tokenize: bool, add_generation_prompt: bool, **kwargs):
        _Tok.template_kwargs.append(kwargs)
        text = " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"
        return self.encode(text)


@dataclasses.dataclass
class _Args:
    model: str = ""
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    enable_chunked_prefill: bool = True
    gpu_memory_utilization: float = 0.9
    disable_log_stats: bool = False
    max_num_seqs: int = 256
    speculative_config: dict | None = None
    tokenizer: str | None = None


class _LLM:
    seen: list[Any] = []

    def __init__(self, args: _Args):
        self.args = args
        self.model_config = types.SimpleNamespace(max_model_len=args.max_model_len)
        self.closed = False

    @classmethod
    def from_engine_args(cls, args):
        return cls(args)

    async def get_tokenizer(self):
        return _Tok()

    async def generate(self, prompt, params, request_id):
        _LLM.seen.append((prompt, params, request_id))
        if params["max_tokens"] == 13:
            raise RuntimeError("boom")
        words = ["w"] * min(params["max_tokens"], 5)
        seq = types.SimpleNamespace(text=" ".join(words), token_ids=list(range(len(words))),
                                    finish_reason="length" if params["max_tokens"] <= 5 else "stop")
        yield types.SimpleNamespace(prompt_token_ids=prompt["prompt_token_ids"], outputs=[seq], finished=True)

    def shutdown(self):
        self.closed = True


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.AsyncEngineArgs = _Args
    mod.SamplingParams = lambda **kw: kw
    mod.AsyncLLMEngine = _LLM
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.v1", None)  # take the pre-V1 import path
    _LLM.seen = []
    return mod


def _req(text: str, max_tokens: int = 32) -> GenerationRequest:
    return GenerationRequest(messages=({"role": "user", "content": text},),
                             sampling=Sampling(max_tokens=max_tokens), request_id="doc1")


def test_glue_chat_template_counts_and_finish(fake_vllm):
    async def go():
        eng = veng.VLLMEngine(VllmConfig(model="m", n_ctx=512))
        await eng.start()
        caps = eng.capabilities
        assert caps.engine == "vllm" and caps.max_context == 512 and caps.count_tokens("a bb ccc") == 3
        out = await eng.generate(_req("Rewrite this. Document: a b c"))
        short = await eng.generate(_req("x", max_tokens=3))
        await eng.stop()
        return out, short

    out, short = asyncio.run(go())
    prompt, params, rid = _LLM.seen[0]
    assert prompt["prompt_token_ids"] == _Tok().apply_chat_template(
        [{"role": "user", "content": "Rewrite this. Document: a b c"}], tokenize=True, add_generation_prompt=True)
    assert params["top_k"] == 64 and rid.startswith("doc1-")
    assert (out.text, out.finish_reason, out.completion_tokens) == ("w w w w w", "stop", 5)
    assert out.prompt_tokens == len(prompt["prompt_token_ids"])
    assert short.finish_reason == "length" and short.completion_tokens == 3


def test_glue_errors(fake_vllm):
    async def go():
        eng = veng.VLLMEngine(VllmConfig(model="m", n_ctx=256))
        await eng.start()
        with pytest.raises(ContextOverflowError):
            await eng.generate(_req("word " * 300))
        with pytest.raises(veng.TransientEngineError, match="boom"):
            await eng.generate(_req("x", max_tokens=13))

    asyncio.run(go())


def test_misspelt_engine_arg_is_fatal_one_liner(fake_vllm):
    eng = veng.VLLMEngine(VllmConfig(engine_args={"max_num_seq": 8}))
    with pytest.raises(FatalEngineError, match="unknown vLLM engine argument.*max_num_seq"):
        asyncio.run(eng.start())


@dataclasses.dataclass
class _StructuredOutputsParams:
    json: Any = None
    regex: str | None = None
    grammar: str | None = None


def test_structure_chat_template_kwargs_and_repetition_penalty_reach_vllm(fake_vllm):
    from rephraser.engines.base import OutputStructure

    fake_vllm.StructuredOutputsParams = _StructuredOutputsParams

    async def go():
        eng = veng.VLLMEngine(VllmConfig(model="m", n_ctx=512,
                                           chat_template_kwargs={"enable_thinking": False}))
        await eng.start()
        assert eng.capabilities.structure_forms >= {"gbnf", "lark", "regex", "json_schema"}
        req = GenerationRequest(messages=({"role": "user", "content": "x"},),
                                sampling=Sampling(max_tokens=32, repetition_penalty=1.3),
                                structure=OutputStructure("gbnf", 'root ::= "Q: " [a-z]+'))
        await eng.generate(req)
        await eng.stop()

    _Tok.template_kwargs = []
    asyncio.run(go())
    _, params, _ = _LLM.seen[0]
    assert params["structured_outputs"] == _StructuredOutputsParams(grammar='root ::= "Q: " [a-z]+')
    assert params["repetition_penalty"] == 1.3
    assert _Tok.template_kwargs[-1] == {"enable_thinking": False}


def test_structured_fields_for_older_vllm_releases():
    from rephraser.engines.base import OutputStructure

    legacy = types.SimpleNamespace(GuidedDecodingParams=lambda **kw: ("guided", kw))
    kw = veng.structured_sampling_kwargs(OutputStructure("json_schema", '{"type":"object"}'), legacy)
    assert kw == {"guided_decoding": ("guided", {"json": {"type": "object"}})}
    assert veng.structured_output_fields(OutputStructure("regex", "a+")) == {"regex": "a+"}
    with pytest.raises(FatalEngineError, match="no structured outputs"):
        veng.structured_sampling_kwargs(OutputStructure("regex", "a+"), types.SimpleNamespace())


# ---- soft steering: the entity bias as logit_bias, context-aware decoding as paired requests ------
class _VocabTok(_Tok):
    PIECES = [" Paris", " London", " the", " river", " Nile", "!"]

    def __len__(self) -> int:
        return len(self.PIECES)

    def decode(self, ids: list[int]) -> str:
        return "".join(self.PIECES[i] for i in ids)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        words = text.split()
        if len(words) == 1:  # one word: the piece it starts with, as the source bias asks
            return [i for i, p in enumerate(self.PIECES) if words[0].startswith(p.strip())][:1]
        return super().encode(text, add_special_tokens)


@dataclasses.dataclass
class _CadArgs(_Args):
    logits_processors: list | None = None


class _PairLLM(_LLM):
    aborted: list[str] = []

    async def get_tokenizer(self):
        return _VocabTok()

    async def abort(self, request_id: str) -> None:
        _PairLLM.aborted.append(request_id)


def test_cad_engine_args_load_the_processor_and_refuse_speculation():
    args = veng.build_engine_args(VllmConfig(context_aware_alpha=0.5,
                                               engine_args={"logits_processors": ["my.mod:Proc"]}))
    assert args["logits_processors"] == ["my.mod:Proc", veng.CAD_PROCESSOR]
    assert "logits_processors" not in veng.build_engine_args(VllmConfig())
    with pytest.raises(ValueError, match="speculative"):
        veng.build_engine_args(VllmConfig(context_aware_alpha=0.5,
                                            engine_args={"ngram_speculation": 4}))
    # the FQCN names the class vLLM's workers import (module:Class)
    module, cls = veng.CAD_PROCESSOR.split(":")
    from rephraser.engines import vllm_context_aware

    assert module == vllm_context_aware.__name__ and hasattr(vllm_context_aware, cls)
    assert veng.CAD_KEY == vllm_context_aware.KEY


def test_grounded_and_context_aware_requests_reach_vllm_as_a_tagged_pair(fake_vllm):
    fake_vllm.AsyncEngineArgs = _CadArgs
    fake_vllm.AsyncLLMEngine = _PairLLM
    _PairLLM.aborted = []

    async def go():
        eng = veng.VLLMEngine(VllmConfig(model="m", n_ctx=512, context_aware_alpha=0.5))
        await eng.start()
        assert eng.capabilities.steering == {"source_bias", "context_aware"}
        req = GenerationRequest(messages=({"role": "user", "content": "Rewrite: Paris is on a river"},),
                                sampling=Sampling(max_tokens=32, seed=3), request_id="doc1",
                                bias_source="Paris is on a river", contrast=({"role": "user", "content": "Rewrite: "},))
        out = await eng.generate(req)
        await eng.stop()
        return out

    out = asyncio.run(go())
    (cprompt, cparams, cid), (mprompt, mparams, mid) = _LLM.seen  # the twin goes first
    assert cid == f"{mid}-contrast" and _PairLLM.aborted == [cid]
    assert cparams["extra_args"] == {veng.CAD_KEY: {"pair": mid, "role": "contrast"}}
    assert mparams["extra_args"] == {veng.CAD_KEY: {"pair": mid, "role": "main", "alpha": 0.5}}
    assert cprompt["prompt_token_ids"] == _VocabTok().apply_chat_template(
        [{"role": "user", "content": "Rewrite: "}], tokenize=True, add_generation_prompt=True)
    assert len(mprompt["prompt_token_ids"]) > len(cprompt["prompt_token_ids"])
    assert cparams["max_tokens"] == 32 and "structured_outputs" not in cparams and "logit_bias" not in cparams
    # the entity bias, in the tokenizer's own ids: London (absent) down, Paris and river (source words) up
    bias = mparams["logit_bias"]
    assert bias[1] < 0 and bias[0] > 0 and bias[3] > 0 and 5 not in bias
    assert out.text == "w w w w w"  # the main request's output, not the twin's


def test_without_alpha_a_call_is_one_request(fake_vllm):
    async def go():
        eng = veng.VLLMEngine(VllmConfig(model="m", n_ctx=512))
        await eng.start()
        assert eng.capabilities.steering == {"source_bias"}
        await eng.generate(GenerationRequest(messages=({"role": "user", "content": "x"},), sampling=Sampling(max_tokens=8),
                                             contrast=({"role": "user", "content": ""},)))

    asyncio.run(go())
    assert len(_LLM.seen) == 1 and "extra_args" not in _LLM.seen[0][1]
