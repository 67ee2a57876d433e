"""Custom rollouts: a user's own multi-call strategy, named by import path.

```yaml
rollout:
  kind: custom
  function: my_package.rollouts:draft_then_fix
```

The function is `async def fn(ctx: RolloutContext) -> str | None`. It may call the model any number of
times with `await ctx.generate(...)` (each call goes through the run's request cache, retries and
attempt budget, and carries the prompt's structure unless told otherwise), look at a verdict with
`ctx.judge(text)`, and returns the final text, which the prompt's contract judges like any output
(None = no output: the row is rejected with reason "custom rollout returned no output"). The row
records the summed token usage and the number of calls. Its exceptions dead-letter the document
with the error, like any rollout failure.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import replace
from typing import Any, Protocol

from rephraser.config import FloorThresholds, SamplingConfig
from rephraser.engines.base import Capabilities, Completion, OutputStructure, Sampling
from rephraser.errors import ConfigError
from rephraser.generate.calls import AttemptBudget, Caller, derive_seed
from rephraser.generate.truncate import fit_tokens
from rephraser.postprocess.contract import Verdict, apply_contract
from rephraser.prompts.layouts import LayoutRefusal
from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document

_DEFAULT: Any = object()


class RolloutHost(Protocol):
    """What a custom rollout's context reads from the rollout that runs it (rollouts.Rollout). A protocol,
    not an import of that class: rollouts.py imports this module, and imports never run in a circle."""

    spec: PromptSpec
    caps: Capabilities
    caller: Caller
    sampling: SamplingConfig
    input_budget: int
    max_attempts: int
    floor: FloorThresholds | None
    structure: OutputStructure | None

    def structure_for(self, text: str) -> OutputStructure | None: ...
    def _sampling(self, doc: Document, sample: int) -> Sampling: ...


def load_function(path: str) -> Any:
    """'package.module:function' -> the async function; a one-line ConfigError otherwise."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"rollout.function {path!r}: cannot import {module_name!r} ({e})") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise ConfigError(f"rollout.function {path!r}: module {module_name!r} has no attribute {attr!r}")
    if not inspect.iscoroutinefunction(fn):
        raise ConfigError(f"rollout.function {path!r} must be an async function (async def fn(ctx))")
    return fn


class RolloutContext:
    """What a custom rollout may use for one document."""

    def __init__(self, rollout: RolloutHost, doc: Document):
        self._r = rollout
        self.doc = doc
        self.spec = rollout.spec
        try:
            self.structure: OutputStructure | None = rollout.structure_for(doc.text)
        except LayoutRefusal:  # no layout fits this document (grounded math without numbers): the prompt's
            self.structure = rollout.structure  # fixed structure; the contract still judges the output
        self.document, self.truncated = fit_tokens(doc.text, rollout.caps.count_tokens, rollout.input_budget)
        self.budget = AttemptBudget(rollout.max_attempts * 4)
        self.calls = 0
        self.attempts = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.last: Completion | None = None

    async def generate(self, messages: tuple[dict[str, str], ...] | list[dict[str, str]] | None = None, *,
                       structure: OutputStructure | None = _DEFAULT, max_tokens: int | None = None) -> Completion:
        """One model call. Default messages: the prompt rendered on the (fitted) document. Each call gets its
        own seed derived from the document's, so repeated calls differ and replay identically."""
        msgs = tuple(messages) if messages is not None else self._r.spec.messages(self.document)
        sampling = self._r._sampling(self.doc, 0)
        if self.calls:
            sampling = replace(sampling, seed=derive_seed(self._r.sampling.seed, f"{self.doc.id}#call{self.calls}", 0))
        if max_tokens is not None:
            sampling = replace(sampling, max_tokens=max_tokens)
        comp, attempts = await self._r.caller.call(
            msgs, sampling, prompt_hash=self._r.spec.hash, continuation=self._r.spec.mode == "continuation",
            budget=self.budget, structure=self.structure if structure is _DEFAULT else structure)
        self.calls += 1
        self.attempts += attempts
        self.prompt_tokens += comp.prompt_tokens
        self.completion_tokens += comp.completion_tokens
        self.last = comp
        return comp

    def judge(self, text: str, finish_reason: str = "stop") -> Verdict:
        """The prompt's contract on a candidate text (cleaning, validator, length window, faithfulness)."""
        return apply_contract(self._r.spec, text, source_text=self.document, finish_reason=finish_reason,
                              floor=self._r.floor)


async def run_custom(fn: Any, ctx: RolloutContext) -> str | None:
    """The user's function on one document's context: its final text, or None for no output."""
    text = await fn(ctx)
    if text is not None and not isinstance(text, str):
        raise TypeError(f"custom rollout returned {type(text).__name__}, expected str or None")
    return text
