"""One model call with the request cache in front and retries behind.

Transient failures (timeouts, resets, 429/5xx, malformed responses) are retried with exponential
backoff and full jitter, honouring Retry-After, until the unit's attempt budget is spent; then the
unit is dead-lettered with the last error. Non-retryable request errors dead-letter at once.
Context overflow is passed up to the rollout, which knows how to shorten its input. A fatal engine
error (cannot start, wrong credentials/model) passes up to the runner and stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from rephraser.config import RetryConfig
from rephraser.engines.base import (
    Completion,
    ContextOverflowError,
    Engine,
    EngineError,
    FatalEngineError,
    GenerationRequest,
    OutputStructure,
    Sampling,
    TransientEngineError,
)
from rephraser.generate.cache import RequestCache, cache_key


class DeadLetter(Exception):
    """The unit cannot be generated; `str(e)` is the last error. `transport` says whether it was the
    wire or the endpoint (connection, timeout, 429/5xx, malformed reply) rather than the request."""

    def __init__(self, message: str, *, attempts: int, transport: bool):
        super().__init__(message)
        self.attempts = attempts
        self.transport = transport



def derive_seed(base: int, doc_id: str, sample: int) -> int:
    """A distinct, reproducible seed per (document, sample) so documents do not share random streams."""
    h = hashlib.sha256(f"{base}:{doc_id}:{sample}".encode("utf-8", "surrogatepass")).hexdigest()
    return int(h[:8], 16) & 0x7FFFFFFF


@dataclass
class AttemptBudget:
    remaining: int
    used: int = 0


@dataclass
class CallCounters:
    engine_calls: int = 0
    cache_hits: int = 0
    transient_errors: int = 0
    completion_tokens_generated: int = 0  # fresh tokens only (not replayed from cache): throughput
    completions: int = 0  # fresh completions (progress: the engine's calls still running)
    # engine-side speculation per prompt hash: [tokens guessed, guesses kept, verify steps, tokens emitted]
    speculation: dict[str, list[int]] = field(default_factory=dict)


class Caller:
    def __init__(self, engine: Engine, cache: RequestCache, model_id: str, retry: RetryConfig,
                 rng: random.Random | None = None, request_options: dict[str, Any] | None = None):
        self.engine = engine
        self.request_options = request_options or {}  # engine-level settings that change outputs (cache key)
        self.cache = cache
        self.model_id = model_id
        self.retry = retry
        self.rng = rng or random.Random()
        self.counters = CallCounters()

    async def call(self, messages: tuple[dict[str, str], ...], sampling: Sampling, *, prompt_hash: str,
                   continuation: bool, budget: AttemptBudget,
                   structure: OutputStructure | None = None, bias_source: str | None = None,
                   contrast: tuple[dict[str, str], ...] | None = None) -> tuple[Completion, int]:
        """Return (completion, attempts that produced it). Raises DeadLetter / ContextOverflowError / FatalEngineError."""
        options = dict(self.request_options)
        if structure is not None:  # a per-document grammar is not covered by the prompt hash: hash its text
            options["structure"] = f"{structure.form}:{_short_hash(structure.value)}"
        if bias_source is not None:
            options["bias_source"] = _short_hash(bias_source)
        if contrast is not None:
            options["contrast"] = _short_hash(repr(contrast))
        key = cache_key(messages, model_id=self.model_id, sampling=sampling.as_dict(),
                        prompt_hash=prompt_hash, continuation=continuation, options=options)
        hit = self.cache.get(key)
        if hit is not None:
            self.counters.cache_hits += 1
            return hit
        request = GenerationRequest(messages=messages, sampling=sampling, request_id=key[:12], continuation=continuation,
                                    structure=structure, bias_source=bias_source, contrast=contrast)
        attempts = 0
        while True:
            if budget.remaining <= 0:
                raise DeadLetter(f"attempt budget exhausted after {budget.used} attempts", attempts=budget.used,
                                 transport=True)  # only transient errors spend more than one attempt per call
            budget.remaining -= 1
            budget.used += 1
            attempts += 1
            self.counters.engine_calls += 1
            try:
                completion = await self.engine.generate(request)
            except (ContextOverflowError, FatalEngineError):
                raise
            except TransientEngineError as e:
                self.counters.transient_errors += 1
                if budget.remaining <= 0:
                    raise DeadLetter(f"{type(e).__name__}: {e} (after {budget.used} attempts)", attempts=budget.used,
                                     transport=True) from None
                await asyncio.sleep(self._backoff(attempts, e.retry_after))
                continue
            except EngineError as e:
                raise DeadLetter(f"{type(e).__name__}: {e}", attempts=budget.used, transport=False) from None
            self.counters.completion_tokens_generated += completion.completion_tokens
            self.counters.completions += 1
            if completion.speculation is not None:
                acc = self.counters.speculation.setdefault(prompt_hash, [0, 0, 0, 0])
                for i, v in enumerate((*completion.speculation, completion.completion_tokens)):
                    acc[i] += v
            self.cache.put(key, completion, attempts)
            return completion, attempts

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.retry.backoff_max_s, self.retry.backoff_base_s * (2 ** (attempt - 1)))
        delay = self.rng.uniform(0, cap)  # full jitter: spreads retries of many documents apart
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry.backoff_max_s))
        return delay


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
