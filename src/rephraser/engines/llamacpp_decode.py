"""The embedded engine's decode thread: what one step of llama.cpp decoding does, slot by slot.

Kept apart from the engine's face (llamacpp.py: start/stop, capabilities, `generate`), which runs on
the caller's event loop; everything here runs on the one thread that owns the llama.cpp context, so it
reads as the schedule it is: admit queued jobs into free slots, build the step's batch, decode, sample
each row, finish slots. `DecodeLoop` is a base of `LlamaCppEngine` and works on the engine's own state
(the attributes declared below, set in `LlamaCppEngine.__init__`), so the split changes no behaviour.

A request with a structure (a prompt contract's grammar / regex / JSON schema) gets its own matcher in
its slot (engines/constraint.py): the masks of all constrained slots are computed together after each
decode step, and each slot samples from its own mask with its own RNG.

Soft steering (engines/steering.py) acts on a slot's scores before the mask: a request's `bias_source`
becomes a per-slot bias row, and with `context_aware_alpha` > 0 a request's `contrast` prompt (the same
prompt without the document) is decoded as a second sequence of the slot (seq id parallel + slot) in
the same batch, fed the same generated tokens.

With `speculative: ngram` a generating slot may also feed tokens guessed by prompt lookup after its
last token (engines/speculation.py); the step then samples position by position and keeps the guesses
the model agrees with, so the output is the one it would have been without guessing. A slot decoding
a contrast prompt does not guess (its contrast sequence would need the guesses too).

Prompts are decoded in calls of their own, one sequence each, cut only at multiples of n_batch: in a
batch whose sequences bring different numbers of tokens llama.cpp makes micro-batches, and where a
prompt is cut changes its numerics, so this keeps a document's output independent of its neighbours.
"""

from __future__ import annotations

import queue
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from rephraser.engines import llamacpp_stepcost
from rephraser.engines.base import Completion, EngineError, FatalEngineError, TransientEngineError
from rephraser.engines.constraint import ConstraintFactory, first_line
from rephraser.engines.llamacpp_model import LoadedModel
from rephraser.engines.llamacpp_slots import Job, Slot, resolve
from rephraser.engines.speculation import (
    Candidate,
    SpecCounters,
    StepCost,
    count_ubatches,
    plan_drafts,
    verify,
)
from rephraser.engines.steering import VocabIndex, contrast, source_bias
from rephraser.engines.token_sampler import make_rng, sample_token

if TYPE_CHECKING:
    from rephraser.config import EngineConfig


class DecodeLoop:
    """The decode thread's methods. The state they share with the engine (set by its __init__ and start):"""

    cfg: EngineConfig
    _model: LoadedModel | None
    _constraints: ConstraintFactory | None
    _queue: queue.Queue[Job | None]
    _dead: str | None
    _stopping: bool
    tokens_decoded: int
    prompt_tokens_fed: int
    decode_seconds: float
    prefill_seconds: float
    prompts_prefilled: int
    decode_steps: int
    decode_rows: int
    alpha: float
    _vocab_index: VocabIndex | None
    _speculate: bool
    _max_draft: int
    _cost: StepCost
    speculation: SpecCounters

    # ---- one step: admit, build the batch, decode, feed prompts ----------------------------------
    def _run(self) -> None:
        m = self._model
        assert m is not None
        lib = m.lib
        batch = lib.llama_batch_init(m.n_batch, 0, 1)
        slots = [Slot(seq_id=i, cseq=self.cfg.parallel + i) for i in range(self.cfg.parallel)]
        try:
            if self._speculate:  # what a guessed row costs here decides whether guessing pays
                self._cost.calibrate(llamacpp_stepcost.measure(m, self.cfg.parallel - 1, self.cfg.parallel)
                                     or [(1, 1, 1.0), (1, 16, 6.0)])  # (a failed measurement: the default ratio)
            while not self._stopping:
                if not self._admit(slots, block=not any(s.job for s in slots)):
                    break
                active = [s for s in slots if s.job is not None]
                if not active:
                    continue
                generating = [s for s in active if not s.prefilling and s.generated]
                t0 = time.perf_counter()
                if generating:
                    rows = self._fill_generating(batch, generating)
                    if self._decode(batch, generating, rows):
                        self._sample_all(generating)
                t1 = time.perf_counter()
                self.decode_seconds += t1 - t0  # now, not after the prefill: progress reads it meanwhile
                if generating:  # with the time, so a reading never sees a step without its seconds
                    self.decode_steps += 1
                    self.decode_rows += len(generating)
                self._prefill(batch, [s for s in active if s.job is not None and s.prefilling])
                self.prefill_seconds += time.perf_counter() - t1
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

    def _decode(self, batch: Any, slots: list[Slot], rows: list[tuple[int, int]] | None = None) -> bool:
        """One llama_decode; on failure the slots in the batch fail (transient: the runner retries them).
        `rows` (generation steps only) feed the cost model that decides how much to draft."""
        m = self._model
        assert m is not None
        t0 = time.perf_counter()
        rc = m.lib.llama_decode(m.ctx, batch)
        if rc != 0:
            err = TransientEngineError(f"llama_decode failed with code {rc}")
            for s in slots:
                if s.job is not None:
                    self._finish(s, err)
            return False
        if rows is not None and self._speculate:
            self._cost.observe(count_ubatches(rows, m.n_batch), batch.n_tokens, time.perf_counter() - t0)
        return True

    def _admit(self, slots: list[Slot], block: bool) -> bool:
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
                t0 = time.perf_counter()
                try:
                    matcher = self._constraints.matcher(job.structure)  # type: ignore[union-attr]
                except EngineError as e:
                    resolve(job, e)
                    continue
                finally:  # compiling a grammar is part of making a prompt ready (progress's ETA)
                    self.prefill_seconds += time.perf_counter() - t0
            slot.reset(job)
            slot.matcher = matcher
            slot.bias = self._bias(job.bias_source) if job.bias_source else None
            room = self._model.ctx_per_seq - len(job.tokens)  # type: ignore[union-attr]
            slot.limit = max(1, min(job.sampling.max_tokens, room))
            slot.rng = make_rng(job.sampling.seed)
        return True

    @staticmethod
    def _put(batch: Any, j: int, token: int, pos: int, seq: int, logits: bool) -> None:
        batch.token[j] = token
        batch.pos[j] = pos
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = seq
        batch.logits[j] = logits

    def _fill_generating(self, batch: Any, generating: list[Slot]) -> list[tuple[int, int]]:
        """The next token of every generating slot (and its draft, if any; the contrast sequence's copy of
        it, if any) in one batch; returns (sequence id, rows) in batch order."""
        m = self._model
        assert m is not None
        for s in generating:
            s.draft = []
        guessing = [s for s in generating if s.job.lookup is not None]  # type: ignore[union-attr]
        if guessing:
            self._plan_drafts(guessing, m.n_batch - 2 * len(generating))
        j = 0
        rows: list[tuple[int, int]] = []
        for s in generating:
            pos = len(s.job.tokens) + len(s.generated) - 1  # type: ignore[union-attr]
            s.logit_index = j
            for i, t in enumerate([s.generated[-1], *s.draft]):
                self._put(batch, j, t, pos + i, s.seq_id, True)
                j += 1
            rows.append((s.seq_id, 1 + len(s.draft)))
            s.c_logit_index = -1
            if s.contrasting:  # the contrast sequence reads the same token
                s.c_logit_index = j
                cpos = len(s.job.contrast_tokens) + len(s.generated) - 1  # type: ignore[union-attr,arg-type]
                self._put(batch, j, s.generated[-1], cpos, s.cseq, True)
                j += 1
                rows.append((s.cseq, 1))
        batch.n_tokens = j
        return rows

    def _prefill(self, batch: Any, prefilling: list[Slot]) -> None:
        """Feed prompt pieces, each sequence in a decode call of its own and cut only at multiples of
        n_batch (see the module docstring); about n_batch prompt tokens per step keep the running
        documents moving. A contrast prompt goes first; its last logits are kept for the first sample."""
        m = self._model
        assert m is not None
        budget = m.n_batch
        for s in prefilling:
            while budget > 0 and s.job is not None and s.prefilling:
                job = s.job
                contrast_part = s.c_prefilling
                toks, fed, seq = (job.contrast_tokens, s.c_fed, s.cseq) if contrast_part else (job.tokens, s.n_fed, s.seq_id)
                take = min(len(toks) - fed, m.n_batch)  # type: ignore[arg-type]
                for k in range(take):
                    self._put(batch, k, toks[fed + k], fed + k, seq, fed + k == len(toks) - 1)  # type: ignore[index,arg-type]
                batch.n_tokens = take
                if not self._decode(batch, [s]):
                    return
                budget -= take
                self.prompt_tokens_fed += take
                if contrast_part:
                    s.c_fed += take
                    if not s.c_prefilling:
                        ptr = m.lib.llama_get_logits_ith(m.ctx, take - 1)
                        s.c_logits = np.ctypeslib.as_array(ptr, shape=(m.n_vocab,)).copy()
                    continue
                s.n_fed += take
                if not s.prefilling:
                    self.prompts_prefilled += 1
                    s.logit_index = take - 1
                    self._sample_all([s])

    def _plan_drafts(self, guessing: list[Slot], room: int) -> None:
        """Guess tokens for these slots and keep the draft lengths that pay (speculation.plan_drafts)."""
        m = self._model
        assert m is not None
        cands: list[Candidate] = []
        for s in guessing:
            assert s.job is not None and s.job.lookup is not None
            draft, match = s.job.lookup.draft(min(self._max_draft, s.limit - len(s.generated) - 1))
            for i, t in enumerate(draft):  # nothing follows an end token
                if m.is_end(t):
                    draft = draft[: i + 1]
                    break
            if draft and s.matcher is not None:  # only guesses the structure allows (the matcher is not moved)
                draft = draft[: s.matcher.validate_tokens(draft)]
            s.match = match
            cands.append(Candidate(s.seq_id, draft, s.acceptance.rate(match)))
        lengths = plan_drafts(cands, self._cost, m.n_batch)
        for s, c in zip(guessing, cands, strict=True):
            n = min(lengths.get(s.seq_id, 0), max(0, room))
            room -= n
            s.draft = c.draft[:n]
            s.shadow = c.draft[0] if c.draft and not n else None  # checked after sampling, at no cost

    # ---- sampling each row, finishing slots -------------------------------------------------------
    def _sample_all(self, active: list[Slot]) -> None:
        ready = []
        for s in active:
            if s.logit_index < 0 or s.job is None:
                continue
            if s.job.future.cancelled():  # the caller gave up (timeout): free the slot now
                self._finish(s, None)
                continue
            ready.append(s)
        constrained = [s for s in ready if s.matcher is not None]
        masks = self._constraints.masks(  # type: ignore[union-attr]
            [s.matcher for s in constrained], [s.draft for s in constrained]) if constrained else None
        for s in ready:
            self._verify(s, masks[constrained.index(s)] if s.matcher is not None else None)  # type: ignore[index]

    def _verify(self, s: Slot, masks: Any) -> None:
        """Sample this slot's next token, and go on through its draft while the sampled token equals the
        guess (speculation.verify): each position is sampled exactly as without speculation."""
        m = self._model
        assert m is not None and s.job is not None
        start = len(s.job.tokens) + len(s.generated)  # position of the first guess
        shadow, s.shadow = s.shadow, None
        accepted = verify(s.draft, lambda i: self._emit(s, i, masks))
        if shadow is not None and s.job is not None:  # the guess not fed: would it have been kept?
            s.acceptance.update(s.match, 1, int(s.generated[-1] == shadow))
        self._count_draft(s, accepted)
        if s.job is not None and s.draft:  # drop the KV cells of guesses not kept (the last sampled token is fed next)
            m.lib.llama_memory_seq_rm(m.memory, s.seq_id, start + accepted, -1)

    def _emit(self, s: Slot, i: int, masks: Any) -> int | None:
        """Sample position i of this step (logits row logit_index + i) and append it; None when the slot
        finished (end token, complete structure, length, or a structure error)."""
        m = self._model
        assert m is not None and s.job is not None
        allowed = None
        if masks is not None:
            allowed = masks[i]
            if not allowed.any():
                return self._stop(s, EngineError(f"structure allows no next token: {_matcher_error(s.matcher)}"), i)
        logits = np.ctypeslib.as_array(m.lib.llama_get_logits_ith(m.ctx, s.logit_index + i), shape=(m.n_vocab,))
        if s.contrasting:  # never with a draft: i == 0
            plain = s.c_logits if s.c_logits is not None else np.ctypeslib.as_array(
                m.lib.llama_get_logits_ith(m.ctx, s.c_logit_index), shape=(m.n_vocab,))
            s.c_logits = None
            logits = contrast(logits, plain, self.alpha, allowed)
        if s.bias is not None:
            logits = logits + s.bias
        token = sample_token(logits, s.job.sampling, s.rng, allowed=allowed, history=s.generated)
        if s.matcher is not None and not s.matcher.consume_token(token):
            return self._stop(s, EngineError(f"structure rejected a token: {_matcher_error(s.matcher)}"), i)
        hit = i < len(s.draft) and s.draft[i] == token
        if m.is_end(token):
            return self._stop(s, "stop", i, hit)
        s.generated.append(token)
        self.tokens_decoded += 1
        if s.job.lookup is not None:
            s.job.lookup.extend([token])
        if s.matcher is not None and s.matcher.is_stopped():  # the structure is complete: nothing may follow
            return self._stop(s, "stop", i, hit)
        if len(s.generated) >= s.limit:
            return self._stop(s, "length", i, hit)
        return token

    def _stop(self, s: Slot, outcome: str | BaseException, i: int, hit: bool = False) -> None:
        self._count_draft(s, i + hit)  # guesses kept before the slot finished
        s.draft = []
        self._finish(s, outcome)
        return None

    def _count_draft(self, s: Slot, accepted: int) -> None:
        if not s.draft:
            return
        s.acceptance.update(s.match, len(s.draft), accepted)
        for c in (s.spec, self.speculation):
            c.drafted += len(s.draft)
            c.accepted += accepted
            c.steps += 1

    def _finish(self, s: Slot, outcome: str | BaseException | None) -> None:
        m = self._model
        assert m is not None and s.job is not None
        job = s.job
        if isinstance(outcome, str):
            text = m.detokenize(s.generated)
            spec = (s.spec.drafted, s.spec.accepted, s.spec.steps) if job.lookup is not None else None
            resolve(job, Completion(text=text, finish_reason=outcome, prompt_tokens=len(job.tokens),
                                    completion_tokens=len(s.generated), speculation=spec))
        elif isinstance(outcome, BaseException):
            resolve(job, outcome)
        m.lib.llama_memory_seq_rm(m.memory, s.seq_id, -1, -1)  # free this slot's KV cells
        if job.contrast_tokens is not None:
            m.lib.llama_memory_seq_rm(m.memory, s.cseq, -1, -1)
        s.reset(None)

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
                resolve(job, err)


def _matcher_error(matcher: Any) -> str:
    return first_line(matcher.get_error()) if matcher.is_error() else "no error reported"
