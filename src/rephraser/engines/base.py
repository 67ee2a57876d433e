"""The Engine protocol: the only thing the runner knows about inference.

An engine turns one `GenerationRequest` (chat messages + sampling) into one `Completion`. It is
started once, may serve many concurrent `generate` calls (the runner keeps up to N in flight so the
engine's batching stays full) and is stopped once. Adding an engine = one file implementing this and
exporting `SPEC`, an `EngineSpec` (what planning, Ray, Slurm and estimates need to know about the engine
without starting it), plus its registration: a line in `engines/__init__.py` and its config class in
`config/engine.py`.

Errors are classified so the runner can decide without knowing the transport:
- `TransientEngineError`: try again later (timeouts, resets, 429/5xx, malformed responses);
- `ContextOverflowError`: the prompt does not fit; the runner truncates and retries once;
- `FatalEngineError`: the engine cannot work at all (missing model, cannot start); the run stops.

Optional: an engine that sees tokens as they are decoded may expose `tokens_decoded` (an int: new
tokens generated so far over all requests) so progress moves before a whole call finishes, and
`prompt_tokens_fed`, `prompts_prefilled`, `decode_seconds`, `prefill_seconds` (its own time in prompt
and generation steps) so the rate and the ETA hold while prompts are still being prefilled, and
`decode_steps`, `decode_rows` (generation steps, and the sequences they carried) so the ETA can correct
an early rate for a batch that is not yet full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rephraser.config import EngineConfig


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int = 64
    max_tokens: int = 512
    seed: int = 0
    repetition_penalty: float = 1.0  # 1.0 = off; >1 discourages tokens already generated

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if self.repetition_penalty != 1.0:  # only when set: keeps cache keys of earlier runs valid
            d["repetition_penalty"] = self.repetition_penalty
        return d


@dataclass(frozen=True)
class OutputStructure:
    """The structure a completion must follow (constrained decoding): a prompt contract's grammar
    (GBNF or llguidance Lark), regex or JSON schema (as canonical JSON text)."""

    form: str  # "gbnf" | "lark" (grammars) | "regex" | "json_schema" (canonical JSON text)
    value: str


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[dict[str, str], ...]  # OpenAI-style chat messages, e.g. ({"role": "user", "content": ...},)
    sampling: Sampling
    request_id: str = ""  # for logs only; never part of a cache key
    continuation: bool = False  # raw text continuation (no chat template): messages[-1]["content"] is the prefix
    structure: OutputStructure | None = None  # enforce this structure while decoding (None = free text)
    # Soft steering (engines that list it in Capabilities.steering; others ignore it, see docs/engines.md):
    bias_source: str | None = None  # favour this text's words, disfavour capitalised words it lacks ("grounded")
    contrast: tuple[dict[str, str], ...] | None = None  # the same prompt without the source (context-aware decoding)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" | "length" | engine-specific
    prompt_tokens: int
    completion_tokens: int
    # speculative decoding in the engine, where it reports it: (tokens guessed, guesses kept, steps with a guess)
    speculation: tuple[int, int, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Capabilities:
    model_id: str  # recorded in every row
    engine: str  # "llamacpp" | "openai" | "vllm"
    max_context: int  # tokens (prompt + completion)
    batch_slots: int  # sequences the engine decodes together
    count_tokens: Callable[[str], int] = field(compare=False, repr=False)
    exact_token_counts: bool = True  # False when count_tokens is an estimate
    structure_forms: frozenset[str] = frozenset()  # OutputStructure forms it can enforce: gbnf, lark, regex, json_schema
    # sampling fields it sends (Sampling.as_dict keys); others are dropped and not recorded in rows
    sampling_fields: frozenset[str] = frozenset({"temperature", "top_p", "top_k", "max_tokens", "seed",
                                                 "repetition_penalty"})
    steering: frozenset[str] = frozenset()  # soft controls it honours: "source_bias", "context_aware"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class EngineError(Exception):
    """Base class; `str(e)` is one line suitable for a dead-letter reason."""


class TransientEngineError(EngineError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ContextOverflowError(EngineError):
    pass


class FatalEngineError(EngineError):
    pass


@runtime_checkable
class Engine(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def generate(self, request: GenerationRequest) -> Completion: ...


# Optional request features (beyond chat messages, temperature, top_p and max_tokens) an engine honours.
REQUEST_FIELDS = frozenset({"top_k", "seed", "continuation"})


def _one_cpu(cfg: EngineConfig) -> dict[str, float]:
    return {"num_gpus": 0.0, "num_cpus": 1.0}


def _runner_window(cfg: EngineConfig, max_in_flight: int) -> int:
    return max_in_flight


@dataclass(frozen=True, kw_only=True)
class EngineSpec:
    """The static facts of one engine kind, known before it starts (its `Capabilities` come after).

    A plain frozen dataclass so new facts are one field with a default: every engine keeps working.
    """

    kind: str  # the `engine.kind` value
    summary: str  # one line for help texts
    device: Literal["cpu", "gpu", "server"]  # what its throughput is measured on ("server": behind an endpoint)
    # Construct (not start) the engine: (config, the runner's max_in_flight) -> Engine.
    build: Callable[[EngineConfig, int | None], Engine]
    needs_gpu: bool = False  # the replica itself needs a GPU (Slurm --gres, Ray num_gpus)
    startup_s: float = 0.0  # typical seconds from start() to the first request (grid --dry-run)
    # Ray resources one replica claims, from the engine config.
    resources: Callable[[EngineConfig], dict[str, float]] = _one_cpu
    # Requests it really decodes together, given the runner's in-flight limit.
    batch_window: Callable[[EngineConfig, int], int] = _runner_window
    # Output tok/s to assume for a model when nothing was measured: (tok/s, where the figure comes from) or None.
    assumed_tok_s: Callable[[str], tuple[float, str] | None] = lambda model: None
    request_fields: frozenset[str] = REQUEST_FIELDS
