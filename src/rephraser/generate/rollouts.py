"""Rollouts: how one (document, prompt) unit becomes model calls and output rows.

- single: one call on the (token-fitted) document.
- samples: n calls with different seeds; keep all rows, or the best one by `score_outcome`
  (contract-compliant first, then the fewest invented numbers/entities, then the highest content
  recall, then the length ratio closest to 1); or `first_ok`: one call at a time until an output
  passes the contract (rejection sampling: at most n calls, usually one; the best of them when none
  passes; a row refused before decoding, e.g. grounded math without source numbers, is not retried).
- chunked: a long document is split at paragraph/sentence boundaries into chunks that fit the
  context; chunk i is generated in a conversation that shows the tail of chunk i-1 and of its
  rewrite, so style and terminology carry over; outputs are joined. Every call is cached on its own,
  so a crash in the middle of a long document resumes in the middle.

- custom: a user's async function (rollout.function = "package.module:function") that may call the
  model any number of times through a context object (generate/custom_rollout.py).

When the prompt's contract declares a structure and engine.constrain allows it, every call carries
it (engines enforce it while decoding); the contract still judges every output. A contract that names a
layout gets a grammar built for each document (prompts/layouts.py) where the engine takes Lark grammars;
`constrain: grounded` builds it with the source's numbers only and asks the engine to favour the source's
words (`bias_source`, where the engine can). An engine with context-aware decoding on also gets the prompt
without the document (`contrast`).

Prompt logic lives here, transport lives in the engine, retries and caching in calls.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from rephraser.config import Constrain, PostprocessConfig, RolloutConfig, SamplingConfig
from rephraser.engines.base import Capabilities, ContextOverflowError, OutputStructure, Sampling
from rephraser.errors import ConfigError
from rephraser.generate.bounds import clipped, oversize
from rephraser.generate.calls import AttemptBudget, Caller, DeadLetter, derive_seed
from rephraser.generate.custom_rollout import RolloutContext, load_function, run_custom
from rephraser.generate.truncate import fit_tokens, split_chunks
from rephraser.logs import get_logger
from rephraser.postprocess.contract import NOT_ENFORCED, apply_contract
from rephraser.postprocess.faithfulness import measure
from rephraser.postprocess.floor import floor_for
from rephraser.prompts.layouts import LayoutRefusal, build_layout
from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document, Row

log = get_logger(__name__)

TEMPLATE_MARGIN_TOKENS = 32  # chat-template tokens around the message (role markers, BOS/EOS)


@dataclass(kw_only=True)  # eleven fields of like types: by keyword only, so none is put in another's place
class Outcome:
    """The cleaned result of a rollout before it becomes a Row."""

    ok: bool
    text: str
    raw: str
    reason: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    calls: int
    attempts: int
    input_truncated: bool
    input_chars: int
    faith: dict[str, Any] = field(default_factory=dict)  # faithfulness columns of the cleaned text


class Rollout:
    def __init__(self, spec: PromptSpec, caps: Capabilities, caller: Caller, sampling: SamplingConfig,
                 rollout: RolloutConfig, post: PostprocessConfig, max_attempts: int, *, constrain: Constrain):
        self.spec = spec
        self.caps = caps
        self.caller = caller
        self.sampling = sampling
        self.cfg = rollout
        self.post = post
        self.constrain = constrain  # engine.constrain: decoding under the prompt's structure
        self.max_attempts = max_attempts
        self.overhead = caps.count_tokens(spec.overhead_text()) + TEMPLATE_MARGIN_TOKENS
        budget = caps.max_context - sampling.max_tokens - self.overhead
        if spec.input_window_tokens:
            budget = min(budget, spec.input_window_tokens)
        self.input_budget = budget
        self.structure = enforced_structure(spec, caps, constrain)
        self.floor = floor_for(spec.name, post)
        if constrain == "grounded" and self.structure is not None:
            warn_grounding_losses(spec, caps)
        self.custom = None
        if rollout.kind == "custom":
            self.custom = load_function(rollout.function or "")

    # ---- public ---------------------------------------------------------------------
    def rows_per_unit(self) -> int:
        return self.sampling.n if (self.cfg.kind == "samples" and self.cfg.keep == "all") else 1

    async def run(self, doc: Document) -> list[Row]:
        n = self.sampling.n if self.cfg.kind == "samples" else 1
        if self.cfg.kind == "samples" and self.cfg.keep == "first_ok":
            return [await self._first_ok(doc, n)]
        if self.cfg.kind == "chunked":
            outcomes = [await self._chunked(doc, 0)]
        elif self.custom is not None:
            outcomes = [await self._custom(doc)]
        else:
            outcomes = [await self._single(doc, i) for i in range(n)]
        if self.cfg.kind == "samples" and self.cfg.keep == "best":
            best = max(range(n), key=lambda i: score_outcome(outcomes[i], len(doc.text)))
            o = outcomes[best]
            o.calls = sum(x.calls for x in outcomes)
            return [self._row(doc, best, o)]
        return [self._row(doc, i, o) for i, o in enumerate(outcomes)]

    async def _first_ok(self, doc: Document, n: int) -> Row:
        """Rejection sampling: sample i (its own seed) only when samples 0..i-1 all failed the contract (also
        where the contract is not enforced and a failing row would be kept: the retry is for its verdict)."""
        outcomes: list[Outcome] = []
        for i in range(n):
            o = await self._single(doc, i)
            outcomes.append(o)
            passed = o.ok and not (o.reason or "").startswith(NOT_ENFORCED)
            if passed or o.calls == 0:  # passed, or refused before decoding (the same every time)
                break
        # the one that passed; else the best failure (where failures are kept, they all look ok to the scorer)
        best = len(outcomes) - 1 if passed else max(range(len(outcomes)),
                                                      key=lambda i: score_outcome(outcomes[i], len(doc.text)))
        o = outcomes[best]
        o.calls = sum(x.calls for x in outcomes)
        o.prompt_tokens = sum(x.prompt_tokens for x in outcomes)  # every call is paid for
        o.completion_tokens = sum(x.completion_tokens for x in outcomes)
        return self._row(doc, best, o)

    # ---- strategies -----------------------------------------------------------------
    def _sampling(self, doc: Document, sample: int) -> Sampling:
        s = self.sampling
        return Sampling(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_tokens=s.max_tokens,
                        seed=derive_seed(s.seed, doc.id, sample), repetition_penalty=s.repetition_penalty)

    def _messages(self, text: str) -> tuple[dict[str, str], ...]:
        return self.spec.messages(text)

    def structure_for(self, text: str) -> OutputStructure | None:
        """The structure of a call on `text`: the contract's layout built for this document where the
        engine takes Lark grammars, else the prompt's fixed structure."""
        layout = self.spec.contract.layout
        if self.structure is None or layout is None or "lark" not in self.caps.structure_forms:
            return self.structure
        return OutputStructure("lark", build_layout(layout, text, max_tokens=self.sampling.max_tokens,
                                                    grounded=self.constrain == "grounded"))

    def _constraint_form(self) -> str | None:
        if self.structure is None:
            return None
        return "lark" if self.spec.contract.layout and "lark" in self.caps.structure_forms else self.structure.form

    def steering_for(self, text: str) -> dict[str, Any]:
        """The soft controls of a call on `text` (only those the engine honours)."""
        extra: dict[str, Any] = {}
        if self.constrain == "grounded" and "source_bias" in self.caps.steering:
            extra["bias_source"] = text
        if "context_aware" in self.caps.steering and self.spec.mode == "chat":
            extra["contrast"] = self.spec.messages("")
        return extra

    async def _single(self, doc: Document, sample: int) -> Outcome:
        budget = AttemptBudget(self.max_attempts)
        text, truncated = fit_tokens(doc.text, self.caps.count_tokens, self.input_budget)
        sampling = self._sampling(doc, sample)
        for overflow_retry in (False, True):
            if not text.strip():
                return self._rejected("document does not fit the context window", truncated, 0)
            try:
                structure = self.structure_for(text)
            except LayoutRefusal as e:  # e.g. grounded math on a document without numbers
                return self._rejected(str(e), truncated, len(text))
            try:
                comp, attempts = await self.caller.call(
                    self._messages(text), sampling, prompt_hash=self.spec.hash,
                    continuation=self.spec.mode == "continuation", budget=budget, structure=structure,
                    **self.steering_for(text))
                break
            except ContextOverflowError as e:
                if overflow_retry:
                    return self._rejected(f"context overflow after truncation: {e}", True, len(text))
                # Our token count disagreed with the server's: cut 30% more and try once more.
                text, _ = fit_tokens(text, self.caps.count_tokens, int(self.caps.count_tokens(text) * 0.7))
                truncated = True
        return self._judge(comp.text, comp.finish_reason, doc.text if not truncated else text,
                           comp.prompt_tokens, comp.completion_tokens, 1, attempts, truncated, len(text))

    async def _chunked(self, doc: Document, sample: int) -> Outcome:
        carry = self.cfg.carry_tokens
        # Chunk i's call also carries the previous exchange: its tails and one more template overhead.
        room = self.input_budget - 2 * carry - self.overhead
        chunk_tokens = max(64, min(self.cfg.chunk_tokens or room, room))
        chunks = split_chunks(doc.text, self.caps.count_tokens, chunk_tokens)
        if not chunks:
            return self._rejected("document is empty after chunking", False, 0)
        budget = AttemptBudget(self.max_attempts * len(chunks))
        sampling = self._sampling(doc, sample)
        outputs: list[str] = []
        raws: list[str] = []
        pt = ct = attempts = 0
        finish = None
        kept_reason: str | None = None
        for i, chunk in enumerate(chunks):
            messages = self._messages(chunk)
            if i > 0 and self.spec.mode == "chat" and carry > 0:
                prev_src = tail_tokens(chunks[i - 1], self.caps.count_tokens, carry)
                prev_out = tail_tokens(outputs[-1], self.caps.count_tokens, carry)
                *system, first = self._messages(prev_src)
                messages = (*system, first, {"role": "assistant", "content": prev_out}, *messages[len(system):])
            try:
                comp, a = await self.caller.call(messages, sampling, prompt_hash=self.spec.hash,
                                                 continuation=self.spec.mode == "continuation", budget=budget,
                                                 structure=self.structure_for(chunk), **self.steering_for(chunk))
            except ContextOverflowError as e:
                return self._rejected(f"context overflow in chunk {i + 1}/{len(chunks)}: {e}", False, len(doc.text))
            except LayoutRefusal as e:
                return self._rejected(f"chunk {i + 1}/{len(chunks)}: {e}", False, len(doc.text))
            o = self._judge(comp.text, comp.finish_reason, chunk, comp.prompt_tokens, comp.completion_tokens, 1, a,
                            False, len(chunk))
            pt, ct, attempts, finish = pt + comp.prompt_tokens, ct + comp.completion_tokens, attempts + a, comp.finish_reason
            raws.append(o.raw)  # the completion's text, or its marked head when over the size cap
            if not o.ok:
                return Outcome(ok=False, text=o.text, raw="\n\n".join(raws),
                               reason=f"chunk {i + 1}/{len(chunks)}: {o.reason}", finish_reason=finish,
                               prompt_tokens=pt, completion_tokens=ct, calls=i + 1, attempts=attempts,
                               input_truncated=False, input_chars=len(doc.text))
            outputs.append(o.text)
            kept_reason = kept_reason or (o.reason and f"{NOT_ENFORCED}chunk {i + 1}/{len(chunks)}: "
                                          f"{o.reason[len(NOT_ENFORCED):]}")
        joined = "\n\n".join(outputs)
        return Outcome(ok=True, text=joined, raw="\n\n".join(raws), reason=kept_reason, finish_reason=finish,
                       prompt_tokens=pt, completion_tokens=ct, calls=len(chunks), attempts=attempts,
                       input_truncated=False, input_chars=len(doc.text), faith=faith_columns(joined, doc.text))

    async def _custom(self, doc: Document) -> Outcome:
        ctx = RolloutContext(self, doc)
        text = await run_custom(self.custom, ctx)
        if text is None:
            o = self._rejected("custom rollout returned no output", ctx.truncated, len(ctx.document))
            o.calls, o.attempts, o.prompt_tokens, o.completion_tokens = ctx.calls, ctx.attempts, ctx.prompt_tokens, ctx.completion_tokens
            return o
        finish = ctx.last.finish_reason if ctx.last else None
        return self._judge(text, finish or "stop", ctx.document if ctx.truncated else doc.text, ctx.prompt_tokens,
                           ctx.completion_tokens, ctx.calls, ctx.attempts, ctx.truncated, len(ctx.document))

    # ---- judging & rows -------------------------------------------------------------
    def _judge(self, raw: str, finish: str, source: str, pt: int, ct: int, calls: int, attempts: int,
               truncated: bool, input_chars: int) -> Outcome:
        base = Outcome(ok=False, text="", raw=raw, reason=None, finish_reason=finish, prompt_tokens=pt,
                       completion_tokens=ct, calls=calls, attempts=attempts, input_truncated=truncated,
                       input_chars=input_chars)
        too_big = oversize(raw, ct, self.sampling.max_tokens)
        if too_big:  # before the contract: its cost grows with the text (bounds.py)
            return replace(base, raw=clipped(raw), reason=too_big)
        if not self.post.enabled:
            return replace(base, ok=True, text=raw)
        v = apply_contract(self.spec, raw, source_text=source, finish_reason=finish,
                           allow_length_finish=self.post.allow_length_finish or None, floor=self.floor)
        faith = v.faithfulness.columns() if v.faithfulness is not None else {}
        if not v.ok and not self.post.enforce and v.text.strip():
            return replace(base, ok=True, text=v.text, reason=f"{NOT_ENFORCED}{v.reason}", faith=faith)
        return replace(base, ok=v.ok, text=v.text, reason=v.reason, faith=faith)

    def _rejected(self, reason: str, truncated: bool, input_chars: int) -> Outcome:
        return Outcome(ok=False, text="", raw="", reason=reason, finish_reason=None, prompt_tokens=0,
                       completion_tokens=0, calls=0, attempts=0, input_truncated=truncated, input_chars=input_chars)

    def _row(self, doc: Document, sample: int, o: Outcome) -> Row:
        s = self._sampling(doc, sample)
        sent = {k: v for k, v in s.as_dict().items() if k in self.caps.sampling_fields}
        return Row(
            id=doc.id, sample=sample, prompt=self.spec.name, status="ok" if o.ok else "rejected",
            source_text=doc.text, source_metadata=doc.metadata, source_origin=doc.origin,
            prompt_family=self.spec.family, prompt_version=self.spec.version, prompt_hash=self.spec.hash,
            model=self.caps.model_id, engine=self.caps.engine, sampling=sent,
            rollout=self.cfg.kind, generation=o.text if o.ok else (o.text or None), raw_generation=o.raw or None,
            finish_reason=o.finish_reason, prompt_tokens=o.prompt_tokens, completion_tokens=o.completion_tokens,
            calls=o.calls, input_truncated=o.input_truncated, input_chars_used=o.input_chars, reason=o.reason,
            attempts=o.attempts, constraint=self._constraint_form() if o.calls else None,
            **o.faith,
        )

    def failed_rows(self, doc: Document, error: str, attempts: int = 0) -> list[Row]:
        o = Outcome(ok=False, text="", raw="", reason=error, finish_reason=None, prompt_tokens=0, completion_tokens=0,
                    calls=0, attempts=attempts, input_truncated=False, input_chars=0)
        rows = [self._row(doc, i, o) for i in range(self.rows_per_unit())]
        for r in rows:
            r.status = "failed"
            r.generation = None
        return rows


def score_outcome(o: Outcome, source_chars: int) -> tuple[int, int, float, float]:
    """Best-of-n scorer: contract-compliant first, then the fewest invented numbers + entities, then the
    highest content recall, then the length ratio closest to 1."""
    ratio = len(o.text) / max(1, source_chars)
    invented = (o.faith.get("invented_numbers") or 0) + (o.faith.get("invented_entities") or 0)
    return (1 if o.ok else 0, -invented, o.faith.get("content_recall") or 0.0, -abs(1.0 - ratio))


def faith_columns(text: str, source: str) -> dict[str, Any]:
    return measure(text, source).columns() if text else {}


def enforced_structure(spec: PromptSpec, caps: Capabilities, constrain: str) -> OutputStructure | None:
    """The structure every call of this prompt carries, by the run's engine.constrain policy."""
    st = spec.contract.structure
    if st is None or constrain == "off":
        return None
    if st.kind in caps.structure_forms or (spec.contract.layout is not None and "lark" in caps.structure_forms):
        # with a layout, calls carry the per-document grammar instead (Rollout.structure_for)
        return OutputStructure(form=st.kind, value=st.value)
    forms = ", ".join(sorted(caps.structure_forms)) or "none"
    what = f"prompt {spec.name} declares a {st.kind} structure; engine {caps.engine} can enforce: {forms}"
    if constrain in ("on", "grounded"):
        raise ConfigError(f"{what} (set engine.constrain: auto or off, or pick another engine/dialect)")
    log.warning(f"{what}; generating {spec.name} without constraints")
    return None


def warn_grounding_losses(spec: PromptSpec, caps: Capabilities) -> None:
    """One line per part of `constrain: grounded` this engine cannot do (docs/engines.md, soft steering)."""
    lost = []
    if spec.contract.layout is None or "lark" not in caps.structure_forms:
        lost.append("source-only numbers (needs a prompt layout and an engine that takes Lark grammars)")
    if "source_bias" not in caps.steering:
        lost.append("the bias toward the source's names")
    if lost:
        log.warning(f"constrain grounded on engine {caps.engine}, prompt {spec.name}: without "
                    f"{' and '.join(lost)}")


def tail_tokens(text: str, count_tokens, n: int) -> str:
    """The last ~n tokens of text, starting at a word boundary."""
    total = count_tokens(text)
    if total <= n:
        return text
    start = len(text) - int(len(text) * n / total)
    space = text.find(" ", start)
    return text[space + 1:] if space != -1 else text[start:]


__all__ = ["Rollout", "Outcome", "DeadLetter"]
