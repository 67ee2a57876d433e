"""The embedded engine's per-request state: a queued job and the slot (KV sequence) decoding it.

Kept apart from the decode loop (llamacpp_decode.py) so the loop reads as the schedule it is; everything here
is plain data plus the hand-back of a result to the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from rephraser.engines.base import Completion, OutputStructure, Sampling
from rephraser.engines.speculation import Acceptance, PromptLookup, SpecCounters


@dataclass
class Job:
    tokens: list[int]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    structure: OutputStructure | None = None
    bias_source: str | None = None
    contrast_tokens: list[int] | None = None  # the prompt without the document (context-aware decoding)
    lookup: PromptLookup | None = None  # speculation on: the n-gram index of prompt + output


@dataclass
class Slot:
    seq_id: int
    job: Job | None = None
    n_fed: int = 0  # prompt tokens already decoded (prefill progress)
    generated: list[int] = field(default_factory=list)
    limit: int = 0  # max new tokens (request max_tokens capped by the slot's context)
    rng: Any = None
    matcher: Any = None  # llguidance matcher of this slot's structure (None = unconstrained)
    logit_index: int = -1  # row of this slot's logits in the last batch, -1 = none
    bias: Any = None  # float32 row added to the logits (source bias), None = none
    cseq: int = -1  # sequence id of the contrast prompt (context-aware decoding)
    c_fed: int = 0  # contrast prompt tokens already decoded
    c_logit_index: int = -1  # row of the contrast logits in the last batch
    c_logits: Any = None  # a copy of the contrast prompt's last logits (from its own prefill call)
    # speculation (engines/speculation.py)
    draft: list[int] = field(default_factory=list)  # guessed tokens fed after the last one this step
    match: int = 0  # length of the suffix match the draft came from
    acceptance: Acceptance = field(default_factory=Acceptance)
    spec: SpecCounters = field(default_factory=SpecCounters)
    shadow: int | None = None  # the first guess of a step that fed none: compared with the sampled token

    @property
    def prefilling(self) -> bool:
        return self.job is not None and (self.n_fed < len(self.job.tokens) or self.c_prefilling)

    @property
    def c_prefilling(self) -> bool:
        return self.job is not None and self.job.contrast_tokens is not None and self.c_fed < len(self.job.contrast_tokens)

    @property
    def contrasting(self) -> bool:
        return self.job is not None and self.job.contrast_tokens is not None

    def reset(self, job: Job | None) -> None:
        """Take a new job (or none): everything per request starts afresh."""
        self.job, self.n_fed, self.generated, self.logit_index, self.matcher, self.bias = job, 0, [], -1, None, None
        self.c_fed, self.c_logit_index, self.c_logits = 0, -1, None
        self.draft, self.match, self.acceptance, self.spec, self.shadow = [], 0, Acceptance(), SpecCounters(), None


def resolve(job: Job, result: Completion | BaseException) -> None:
    """Hand a result to the caller's loop (thread-safe); a caller that gave up is left alone."""
    def apply() -> None:
        if job.future.done():
            return
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed caller loop: nobody is waiting any more
        job.loop.call_soon_threadsafe(apply)
