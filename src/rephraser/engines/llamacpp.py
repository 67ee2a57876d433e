"""LlamaCppEngine: the default engine, llama.cpp in-process with continuous batching.

One background thread owns the llama.cpp context. Every step it builds ONE `llama_batch` holding
the next token of every generating sequence plus chunks of newly admitted prompts, each tagged with
its slot's sequence id, and calls `llama_decode` once: that is what makes 8 documents cost little
more than 1 on a CPU. Finished slots get their KV cells removed and take the next queued request.
`generate()` is async: it tokenises, queues the job and awaits a future that the thread resolves
through `loop.call_soon_threadsafe`.

A request with a structure (a prompt contract's grammar / regex / JSON schema) gets its own matcher in
its slot (engines/constraint.py): the masks of all constrained slots are computed together after each
decode step, and each slot samples from its own mask with its own RNG.

Soft steering (engines/steering.py) acts on a slot's scores before the mask: a request's `bias_source`
becomes a per-slot bias row, and with `context_aware_alpha` > 0 a request's `contrast` prompt (the same
prompt without the document) is decoded as a second sequence of the slot (seq id parallel + slot) in
the same batch, fed the same generated tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rephraser.engines.base import (
    Capabilities,
    Completion,
    ContextOverflowError,
    EngineError,
    EngineSpec,
    FatalEngineError,
    GenerationRequest,
    OutputStructure,
    Sampling,
    TransientEngineError,
)
from rephraser.engines.constraint import FORMS, ConstraintFactory, first_line
from rephraser.engines.llamacpp_build import build_summary, check_safe, note_engine
from rephraser.engines.llamacpp_model import LoadedModel
from rephraser.engines.models import resolve_model
from rephraser.engines.steering import VocabIndex, contrast, source_bias
from rephraser.engines.token_sampler import make_rng, sample_token

if TYPE_CHECKING:
    from rephraser.config import EngineConfig


@dataclass
class _Job:
    tokens: list[int]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    structure: OutputStructure | None = None
    bias_source: str | None = None
    contrast_tokens: list[int] | None = None  # the prompt without the document (context-aware decoding)


@dataclass
class _Slot:
    seq_id: int
    job: _Job | None = None
    n_fed: int = 0  # prompt tokens already decoded (prefill progress)
    generated: list[int] = field(default_factory=list)
    limit: int = 0  # max new tokens (request max_tokens capped by the slot's context)
    rng: Any = None
    matcher: Any = None  # llguidance matcher of this slot's structure (None = unconstrained)
    logit_index: int = -1  # row of this slot's logits in the last batch, -1 = none
    bias: Any = None  # float32 row added to the logits (source bias), None = none
    cseq: int = -1  # sequence id of the contrast prompt (context-aware decoding)
    c_fed: int = 0  # contrast prompt tokens already decoded
    c_logit_index: int = -1

    @property
    def prefilling(self) -> bool:
        return self.job is not None and self.n_fed < len(self.job.tokens)

    @property
    def contrasting(self) -> bool:
        return self.job is not None and self.job.contrast_tokens is not None


def _resolve(job: _Job, result: Completion | BaseException) -> None:
    def apply() -> None:
        if job.future.done():
            return
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed caller loop: nobody is waiting any more
        job.loop.call_soon_threadsafe(apply)


class LlamaCppEngine:
    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        self._model: LoadedModel | None = None
        self._constraints: ConstraintFactory | None = None
        self._caps: Capabilities | None = None
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._dead: str | None = None  # set when the decode thread crashed
        self._stopping = False
        self.tokens_decoded = 0  # live count for progress (written by the decode thread only)
        self.alpha = cfg.context_aware_alpha
        self._vocab_index: VocabIndex | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._model is not None:
            return

        info = resolve_model(self.cfg.model)
        build = check_safe()  # an AMX build on an AMX CPU would segfault on the first decode
        self._model = await asyncio.to_thread(self._load, info.path)
        m = self._model
        note_engine(f"model {info.model_id}, {build_summary(build)}, {m.threads} threads")
        self._caps = Capabilities(
            model_id=info.model_id, engine="llamacpp", max_context=m.ctx_per_seq, batch_slots=self.cfg.parallel,
            count_tokens=m.count_tokens, exact_token_counts=True, structure_forms=FORMS,
            steering=frozenset({"source_bias"} | ({"context_aware"} if self.alpha > 0 else set())),
            extra={"model_path": str(info.path), "n_vocab": m.n_vocab},
        )
        self._constraints = ConstraintFactory(m.vocab, m.n_vocab, m.end_tokens())
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llamacpp-decode", daemon=True)
        self._thread.start()

    def _load(self, path: Any) -> LoadedModel:
        try:
            # context-aware decoding: one more sequence per slot for the prompt without the document
            seqs = self.cfg.parallel * (2 if self.alpha > 0 else 1)
            return LoadedModel(path, self.cfg.n_ctx, seqs, self.cfg.threads, n_batch=max(512, seqs))
        except ImportError as e:
            raise FatalEngineError(f"llama-cpp-python is not installed ({e}): pip install 'rephraser[cpu]'") from None

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._fail_queued(FatalEngineError("engine stopped"))
        if self._model is not None:
            self._model.close_context()
            self._model = None

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
        job = _Job(tokens=tokens, sampling=request.sampling, loop=loop, future=loop.create_future(),
                   structure=request.structure, bias_source=request.bias_source, contrast_tokens=ctokens)
        self._queue.put(job)
        return await job.future

    # ---- the decode thread ------------------------------------------------------------------
    def _run(self) -> None:
        m = self._model
        assert m is not None
        lib = m.lib
        batch = lib.llama_batch_init(m.n_batch, 0, 1)
        slots = [_Slot(seq_id=i, cseq=self.cfg.parallel + i) for i in range(self.cfg.parallel)]
        try:
            while not self._stopping:
                if not self._admit(slots, block=not any(s.job for s in slots)):
                    break
                active = [s for s in slots if s.job is not None]
                if not active:
                    continue
                n = self._fill(batch, active)
                rc = lib.llama_decode(m.ctx, batch)
                if rc != 0:
                    err = TransientEngineError(f"llama_decode failed with code {rc}")
                    for s in active:
                        self._finish(s, err)
                    continue
                if n:
                    self._sample_all(active)
        except Exception as e:  # never leave callers waiting forever
            self._dead = f"llama.cpp decode thread crashed: {type(e).__name__}: {e}"
            for s in slots:
                if s.job is not None:
                    self._finish(s, FatalEngineError(self._dead))
            self._fail_queued(FatalEngineError(self._dead))
        finally:
            for s in slots:
                if s.job is not None:
                    self._finish(s, FatalEngineError("engine stopped"))
            lib.llama_batch_free(batch)

    def _admit(self, slots: list[_Slot], block: bool) -> bool:
        """Move queued jobs into free slots; False when told to stop."""
        for slot in slots:
            if slot.job is not None:
                continue
            try:
                job = self._queue.get(timeout=None) if block else self._queue.get_nowait()
            except queue.Empty:
                return True
            block = False
            if job is None:
                return False
            if job.future.cancelled():
                continue
            matcher = None
            if job.structure is not None:
                try:
                    matcher = self._constraints.matcher(job.structure)  # type: ignore[union-attr]
                except EngineError as e:
                    _resolve(job, e)
                    continue
            slot.job, slot.n_fed, slot.generated, slot.logit_index = job, 0, [], -1
            slot.matcher = matcher
            slot.bias = self._bias(job.bias_source) if job.bias_source else None
            slot.c_fed, slot.c_logit_index = 0, -1
            room = self._model.ctx_per_seq - len(job.tokens)  # type: ignore[union-attr]
            slot.limit = max(1, min(job.sampling.max_tokens, room))
            slot.rng = make_rng(job.sampling.seed)
        return True

    def _fill(self, batch: Any, active: list[_Slot]) -> int:
        """Put the next tokens of every active slot into `batch`; returns rows that want logits."""
        m = self._model
        assert m is not None
        j = 0
        wanting = 0

        def put(token: int, pos: int, seq: int, logits: bool) -> None:
            nonlocal j
            batch.token[j] = token
            batch.pos[j] = pos
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = seq
            batch.logits[j] = logits
            j += 1

        # Generating slots first: one token each keeps every running document moving.
        for s in active:
            s.logit_index = s.c_logit_index = -1
            if not s.prefilling and s.generated:
                s.logit_index = j
                put(s.generated[-1], len(s.job.tokens) + len(s.generated) - 1, s.seq_id, True)  # type: ignore[union-attr]
                wanting += 1
                if s.contrasting:  # the contrast sequence reads the same token
                    s.c_logit_index = j
                    put(s.generated[-1], len(s.job.contrast_tokens) + len(s.generated) - 1, s.cseq, True)  # type: ignore[union-attr,arg-type]
        for s in active:
            if not s.prefilling or j >= m.n_batch:
                continue
            toks = s.job.tokens  # type: ignore[union-attr]
            left = len(toks) - s.n_fed
            # A prompt that fits whole in a later step waits for it rather than being cut at this step's
            # edge: where a prompt is cut changes its numerics, and so its sampled tokens; this keeps a
            # document's output independent of what its batch neighbours happen to be.
            if s.n_fed == 0 and left > m.n_batch - j and left <= m.n_batch - len(active):
                continue
            if s.contrasting:  # all of the contrast prompt but its last token goes first
                ctoks = s.job.contrast_tokens  # type: ignore[union-attr]
                while s.c_fed < len(ctoks) - 1 and j < m.n_batch - 2:
                    put(ctoks[s.c_fed], s.c_fed, s.cseq, False)
                    s.c_fed += 1
                if s.c_fed < len(ctoks) - 1:
                    continue
            take = min(left, m.n_batch - j - (1 if s.contrasting else 0))
            for k in range(s.n_fed, s.n_fed + take):
                last = k == len(toks) - 1
                if last:
                    s.logit_index = j
                    wanting += 1
                put(toks[k], k, s.seq_id, last)
            s.n_fed += take
            if s.contrasting and s.n_fed == len(toks):  # both prompts end in this batch: logits side by side
                s.c_logit_index = j
                put(ctoks[-1], len(ctoks) - 1, s.cseq, True)
                s.c_fed = len(ctoks)
        batch.n_tokens = j
        return wanting

    def _sample_all(self, active: list[_Slot]) -> None:
        m = self._model
        assert m is not None
        ready = []
        for s in active:
            if s.logit_index < 0 or s.job is None:
                continue
            if s.job.future.cancelled():  # the caller gave up (timeout): free the slot now
                self._finish(s, None)
                continue
            ready.append(s)
        constrained = [s for s in ready if s.matcher is not None]
        masks = self._constraints.masks([s.matcher for s in constrained]) if constrained else None  # type: ignore[union-attr]
        for s in ready:
            allowed = None
            if s.matcher is not None:
                allowed = masks[constrained.index(s)]  # type: ignore[index]
                if not allowed.any():
                    self._finish(s, EngineError(f"structure allows no next token: {_matcher_error(s.matcher)}"))
                    continue
            ptr = m.lib.llama_get_logits_ith(m.ctx, s.logit_index)
            logits = np.ctypeslib.as_array(ptr, shape=(m.n_vocab,))
            if s.c_logit_index >= 0:
                plain = np.ctypeslib.as_array(m.lib.llama_get_logits_ith(m.ctx, s.c_logit_index), shape=(m.n_vocab,))
                logits = contrast(logits, plain, self.alpha)
            if s.bias is not None:
                logits = logits + s.bias
            token = sample_token(logits, s.job.sampling, s.rng, allowed=allowed,  # type: ignore[union-attr]
                                 history=s.generated)
            if s.matcher is not None and not s.matcher.consume_token(token):
                self._finish(s, EngineError(f"structure rejected a token: {_matcher_error(s.matcher)}"))
                continue
            if m.is_end(token):
                self._finish(s, "stop")
                continue
            s.generated.append(token)
            self.tokens_decoded += 1
            if s.matcher is not None and s.matcher.is_stopped():  # the structure is complete: nothing may follow
                self._finish(s, "stop")
            elif len(s.generated) >= s.limit:
                self._finish(s, "length")

    def _finish(self, s: _Slot, outcome: str | BaseException | None) -> None:
        m = self._model
        assert m is not None and s.job is not None
        job = s.job
        if isinstance(outcome, str):
            text = m.detokenize(s.generated)
            _resolve(job, Completion(text=text, finish_reason=outcome, prompt_tokens=len(job.tokens),
                                     completion_tokens=len(s.generated)))
        elif isinstance(outcome, BaseException):
            _resolve(job, outcome)
        m.lib.llama_memory_seq_rm(m.memory, s.seq_id, -1, -1)  # free this slot's KV cells
        if job.contrast_tokens is not None:
            m.lib.llama_memory_seq_rm(m.memory, s.cseq, -1, -1)
        s.job, s.generated, s.n_fed, s.logit_index, s.matcher, s.bias = None, [], 0, -1, None, None

    def _bias(self, source: str) -> np.ndarray:
        m = self._model
        assert m is not None
        if self._vocab_index is None:  # built on first use, in the decode thread
            self._vocab_index = VocabIndex([m.piece(t).decode("utf-8", errors="replace") for t in range(m.n_vocab)])
        return source_bias(self._vocab_index, source, lambda text: m.tokenize(text, special=False))

    def _fail_queued(self, err: EngineError) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                _resolve(job, err)


def _matcher_error(matcher: Any) -> str:
    return first_line(matcher.get_error()) if matcher.is_error() else "no error reported"


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
