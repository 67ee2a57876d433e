"""LlamaCppEngine: the default engine, llama.cpp in-process with continuous batching.

One background thread owns the llama.cpp context. Every step it builds ONE `llama_batch` holding
the next token of every generating sequence plus chunks of newly admitted prompts, each tagged with
its slot's sequence id, and calls `llama_decode` once: that is what makes 8 documents cost little
more than 1 on a CPU. Finished slots get their KV cells removed and take the next queued request.
`generate()` is async: it tokenises, queues the job and awaits a future that the thread resolves
through `loop.call_soon_threadsafe`.

This file is the engine's face: its lifecycle (the model loads on the decode thread), capabilities and
`generate`. What that thread does each step (admission, structure masks, soft steering, speculation,
prompt decoding) is engines/llamacpp_decode.py, which the engine inherits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import TYPE_CHECKING, Any

from rephraser.engines import llamacpp_stepcost
from rephraser.engines.base import (
    Capabilities,
    Completion,
    ContextOverflowError,
    EngineSpec,
    FatalEngineError,
    GenerationRequest,
)
from rephraser.engines.constraint import FORMS, ConstraintFactory
from rephraser.engines.llamacpp_build import build_summary, check_safe, note_engine
from rephraser.engines.llamacpp_decode import DecodeLoop
from rephraser.engines.llamacpp_model import LoadedModel
from rephraser.engines.llamacpp_slots import Job
from rephraser.engines.models import resolve_model
from rephraser.engines.speculation import MAX_DRAFT, PromptLookup, SpecCounters, StepCost
from rephraser.engines.steering import VocabIndex

if TYPE_CHECKING:
    from rephraser.config import EngineConfig


class LlamaCppEngine(DecodeLoop):
    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        self._model: LoadedModel | None = None
        self._constraints: ConstraintFactory | None = None
        self._caps: Capabilities | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()  # start() finished: constraints and capabilities are in place
        self._dead: str | None = None  # set when the decode thread crashed
        self._stopping = False
        self.tokens_decoded = 0  # live count for progress (written by the decode thread only)
        self.prompt_tokens_fed = 0  # live count of prefilled prompt tokens (progress shows prefill apart)
        self.decode_seconds = 0.0  # time in generation steps (plan, decode, sample): benches report decode tok/s
        self.prefill_seconds = 0.0  # time making prompts ready: structure matchers and prompt decodes
        self.prompts_prefilled = 0  # prompts fully decoded (progress: prefill still to come)
        self.decode_steps = 0  # generation steps, and the sequences they carried: progress's batch occupancy
        self.decode_rows = 0
        self.alpha = cfg.context_aware_alpha
        self._vocab_index: VocabIndex | None = None
        self._speculate = cfg.speculative == "ngram"
        self._max_draft = min(MAX_DRAFT, cfg.speculative_max_draft)
        self._cost = StepCost()
        self.speculation = SpecCounters()  # run totals (decode thread)

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._model is not None:
            return

        info = resolve_model(self.cfg.model)
        build = check_safe()  # an AMX build on an AMX CPU would segfault on the first decode
        # The model loads, and its thread count is timed, on the decode thread itself: timing steps run
        # on a loader thread left the whole run's decoding ~25% slower (measured in `rephraser run`, 2
        # threads: 47-50 tok/s, vs 61-63 with no timing or the timing on the decode thread; likely libgomp's
        # thread team per calling thread; docs/benchmarks.md, `rephraser tune`).
        loaded: concurrent.futures.Future[LoadedModel] = concurrent.futures.Future()
        self._stopping = False
        self._ready.clear()
        self._thread = threading.Thread(target=self._load_then_run, args=(info.path, loaded),
                                        name="llamacpp-decode", daemon=True)
        self._thread.start()
        try:
            m = await asyncio.wrap_future(loaded)
        except BaseException:  # the load failed, or start() was cancelled: release a loaded thread, free the model
            self._stopping = True
            self._ready.set()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            if self._model is not None:
                self._model.close_context()
                self._model = None
            raise
        note_engine(f"model {info.model_id}, {build_summary(build)}, {m.cpu.describe()}")
        self._caps = Capabilities(
            model_id=info.model_id, engine="llamacpp", max_context=m.ctx_per_seq, batch_slots=self.cfg.parallel,
            count_tokens=m.count_tokens, exact_token_counts=True, structure_forms=FORMS,
            steering=frozenset({"source_bias"} | ({"context_aware"} if self.alpha > 0 else set())),
            extra={"model_path": str(info.path), "n_vocab": m.n_vocab, "cpu_policy": m.cpu.describe()},
        )
        self._constraints = ConstraintFactory(m.vocab, m.n_vocab, m.end_tokens())
        self._ready.set()  # the decode loop takes jobs from here on

    def _load_then_run(self, path: Any, loaded: concurrent.futures.Future[LoadedModel]) -> None:
        """The decode thread: load the model (and time its threads) here, hand it to start(), then decode."""
        try:
            self._model = self._load(path)
        except BaseException as e:
            loaded.set_exception(e)
            return
        loaded.set_result(self._model)
        self._ready.wait()
        if not self._stopping:
            self._run()

    def _load(self, path: Any) -> LoadedModel:
        try:
            # context-aware decoding: one more sequence per slot for the prompt without the document
            seqs = self.cfg.parallel * (2 if self.alpha > 0 else 1)
            n_batch = self.cfg.n_batch or max(512, seqs)
            m = LoadedModel(path, self.cfg.n_ctx, seqs, self.cfg.threads, n_batch=max(n_batch, seqs),
                            cpu_wait=self.cfg.cpu_wait, kv_cache=self.cfg.kv_cache)
        except ImportError as e:
            raise FatalEngineError(f"llama-cpp-python is not installed ({e}): pip install 'rephraser[cpu]'") from None
        if self.cfg.threads is None:  # the busy CPUs were a first guess: time the candidates, keep the fastest
            llamacpp_stepcost.choose_threads(m, seqs)
        return m

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._ready.set()  # a decode thread still waiting for start() to finish ends at once
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._fail_queued(FatalEngineError("engine stopped"))
        if self._model is not None:
            self._model.close_context()
            self._model = None

    def set_speculative(self, on: bool) -> None:
        """Switch prompt-lookup speculation for requests submitted from now on (tune and benches compare
        both settings on one loaded engine; outputs are the same either way)."""
        self._speculate = on

    @property
    def capabilities(self) -> Capabilities:
        if self._caps is None:
            raise FatalEngineError("engine not started")
        return self._caps

    # ---- requests ---------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> Completion:
        if self._dead:
            raise FatalEngineError(self._dead)
        if self._model is None or self._thread is None:
            raise FatalEngineError("engine not started")
        tokens = self._model.prompt_tokens(request.messages, request.continuation, self.cfg.chat_template_kwargs)
        ctx = self._model.ctx_per_seq
        if len(tokens) >= ctx:
            raise ContextOverflowError(f"prompt has {len(tokens)} tokens; the context holds {ctx} per sequence")
        ctokens = None
        if self.alpha > 0 and request.contrast is not None and not request.continuation:
            ctokens = self._model.prompt_tokens(request.contrast, False, self.cfg.chat_template_kwargs)
            if not ctokens or len(ctokens) >= ctx:
                ctokens = None
        loop = asyncio.get_running_loop()
        job = Job(tokens=tokens, sampling=request.sampling, loop=loop, future=loop.create_future(),
                  structure=request.structure, bias_source=request.bias_source, contrast_tokens=ctokens)
        if self._speculate and ctokens is None:  # indexed here, on the caller's thread, while llama.cpp runs
            job.lookup = PromptLookup(tokens)
        self._queue.put(job)
        return await job.future


# Aggregate output tok/s with parallel sequences on 2 CPU cores: SmolLM2-135M measured ~60-74;
# Gemma-3-270M has twice the parameters, so about half of that is assumed.
CPU_TOK_S = {"smollm2-135m": 65.0, "gemma3-270m": 32.0}
CPU_TOK_S_FALLBACK = 30.0

SPEC = EngineSpec(
    kind="llamacpp",
    summary="llama.cpp in-process on CPU (the default; shipped GGUF models)",
    device="cpu",
    startup_s=5.0,
    resources=lambda e: {"num_gpus": 0.0, "num_cpus": float(e.threads or 1)},
    batch_window=lambda e, max_in_flight: min(max_in_flight, e.parallel),  # `parallel` sequences per decode
    assumed_tok_s=lambda model: (CPU_TOK_S.get(model, CPU_TOK_S_FALLBACK), "CPU default (2 cores)"),
    build=lambda cfg, max_in_flight: LlamaCppEngine(cfg),
)
