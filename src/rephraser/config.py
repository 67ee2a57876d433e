"""The run configuration: one pydantic object describes a run completely.

`RunConfig` is loaded from YAML (`rephraser run --config run.yaml`) or filled from CLI flags, and the
resolved object is written to `<output>/config.yaml` so that `rephraser run --config <output>/config.yaml`
reproduces the run. Every model forbids unknown keys so a typo is an error, not a silent default.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rephraser import storage
from rephraser.errors import ConfigError
from rephraser.route_config import RoutingConfig
from rephraser.yaml_errors import excerpt, locate, syntax_message

ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(Strict):
    """Where documents come from. `path=None` (or "wiki") uses the embedded Wikipedia lead extracts."""

    path: str | None = Field(None, description="file, folder, glob or URL (jsonl, jsonl.gz, jsonl.zst, parquet, arrow, "
                             "an HF dataset folder or repo); None = embedded wiki")
    format: Literal["auto", "jsonl", "parquet", "arrow", "wiki"] = "auto"
    config: str | None = Field(None, description="HF dataset: the config (README `configs:`) to read")
    split: str | None = Field(None, description="HF dataset: the split to read (default: train, or the only one)")
    data_files: list[str] | None = Field(None, description="globs relative to path (HF data_files); override the README")
    text_column: str = "text"
    id_column: str | None = Field("id", description="column holding a unique id; ids are derived from content when absent")
    metadata_columns: list[str] | None = Field(None, description="columns copied into source_metadata (None = all others)")
    limit: int | None = Field(None, ge=1, description="read at most this many records, valid or rejected, of this shard")
    shard_index: int = Field(0, ge=0)
    shard_count: int = Field(1, ge=1)
    sharding: Literal["auto", "files", "row_groups", "hash"] = Field(
        "auto", description="how shards split the input: whole files, Parquet row groups, or hash(id) (reads all)")
    max_chars: int = Field(2_000_000, ge=1, description="documents longer than this are rejected, not truncated")
    on_duplicate_id: Literal["error", "reject"] = "error"

    @field_validator("data_files", mode="before")
    @classmethod
    def _one_glob_is_a_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _shard_in_range(self) -> SourceConfig:
        if self.shard_index >= self.shard_count:
            raise ValueError(f"shard_index {self.shard_index} must be < shard_count {self.shard_count}")
        return self


# Named sampling settings. `study` = the sampling the study used in its experiments (the defaults);
# `small` = a cooler preset for small generators (lower temperature, a repetition penalty), measured against
# `study` on the shipped SmolLM2-135M by bench/bench_constrained.py (docs/results.md: slightly more compliant,
# but opening collapse doubles, so `study` stays the default).
SAMPLING_PRESETS: dict[str, dict[str, Any]] = {
    "study": {"temperature": 1.0, "top_p": 0.95, "top_k": 64, "repetition_penalty": 1.0},
    "small": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1},
}


class SamplingConfig(Strict):
    """Sampling parameters; the defaults are the FinePhrase study's experiment settings (temperature 1.0,
    top_p 0.95, top_k 64)."""

    preset: Literal["study", "small"] | None = Field(
        None, description="fill the fields not given from a named preset (SAMPLING_PRESETS)")
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(64, ge=0)
    repetition_penalty: float = Field(1.0, gt=0.0, description="1.0 = off; >1 discourages repeating generated tokens")
    max_tokens: int = Field(512, ge=1, description="max new tokens per call")
    seed: int = 0
    n: int = Field(1, ge=1, description="samples per document (different seeds)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") in SAMPLING_PRESETS:
            data = {**SAMPLING_PRESETS[data["preset"]], **data}  # explicit fields win over the preset
        return data


class ServerConfig(Strict):
    """A local server process the engine supervises (llama-server, `vllm serve`, ...)."""

    command: list[str] = Field(..., min_length=1, description="argv; {port} is replaced by the chosen port")
    port: int | None = Field(None, description="None = pick a free port")
    ready_timeout_s: float = Field(300.0, gt=0)
    health_path: str = "/health"
    max_restarts: int = Field(5, ge=0)


class EngineConfig(Strict):
    kind: Literal["llamacpp", "openai", "vllm"] = "llamacpp"
    model: str = Field("smollm2-135m", description="shipped model alias, local GGUF/HF path, or served model name")
    # llamacpp
    n_ctx: int = Field(4096, ge=256, description="context window used for truncation and the KV cache")
    parallel: int = Field(8, ge=1, description="sequences decoded together (llamacpp) / batch slots")
    threads: int | None = Field(None, ge=1)
    context_aware_alpha: float = Field(0.0, ge=0.0, le=5.0, description="llamacpp, vllm: context-aware decoding, "
                                       "(1+a)·log p(y|source) − a·log p(y|prompt without source); 0 = off")
    speculative: Literal["off", "ngram"] = Field(
        "off", description="llamacpp: draft-free speculative decoding by prompt lookup (same outputs, fewer steps "
        "where the output copies its source); vLLM: engine_args.speculative_config; a server: its own flags")
    speculative_max_draft: int = Field(8, ge=1, le=8, description="llamacpp: most tokens guessed per sequence and step")
    n_batch: int | None = Field(None, ge=32, description="llamacpp: prompt tokens per decode call (None = "
                                "max(512, parallel)); prompts longer than this are cut at its multiples")
    cpu_wait: Literal["bounded", "passive", "libgomp"] = Field(
        "bounded", description="llamacpp: how OpenMP threads wait at barriers: bounded spin (survives a shared CPU), "
        "passive (sleep at once), libgomp (its default long spin); OMP_WAIT_POLICY / GOMP_SPINCOUNT in the "
        "environment win")
    # openai-compatible HTTP
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")
    tokenizer: str | None = Field(None, description="local tokenizer.json for token counting (openai/vllm)")
    server: ServerConfig | None = None
    request_timeout_s: float = Field(600.0, gt=0)
    # vllm (in-process) knobs, passed through
    engine_args: dict[str, Any] = Field(default_factory=dict)
    # every engine: extra chat-template variables, e.g. {enable_thinking: false} for Qwen3
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)
    # openai: which request fields the server understands (structured outputs, top_k, ...);
    # auto = ask GET /v1/models who owns the model (vllm, llamacpp, sglang, openai), else generic
    dialect: Literal["auto", "vllm", "vllm-guided", "llama-server", "sglang", "openai", "generic"] = "auto"

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, v: str | None) -> str | None:
        # Users sometimes pass the key itself: refuse it without echoing it (it would land in config.yaml).
        if v is not None and not ENV_VAR_NAME.fullmatch(v):
            raise ValueError("must be the NAME of an environment variable holding the key (letters, digits, _), "
                             "not the key itself; the value given is not shown or stored")
        return v

    @model_validator(mode="after")
    def _openai_needs_url(self) -> EngineConfig:
        if self.kind == "openai" and not self.base_url and self.server is None:
            raise ValueError("engine.kind=openai needs engine.base_url or engine.server")
        if self.kind != "llamacpp" and self.speculative != "off":
            raise ValueError("engine.speculative is the embedded engine's; for vllm set engine_args.speculative_config, "
                             "for a server start it with its own speculation flags (docs/engines.md)")
        return self


class RolloutConfig(Strict):
    """How one document becomes model calls (see generate/rollouts.py)."""

    kind: Literal["single", "samples", "chunked", "custom"] = "single"
    keep: Literal["all", "best"] = Field("all", description="samples: all rows, or the best by contract + faithfulness")
    function: str | None = Field(None, description="custom: 'package.module:function', an async rollout "
                                 "(see generate/custom_rollout.py)")
    chunk_tokens: int | None = Field(None, ge=64, description="chunked: input tokens per chunk (default: fit context)")
    carry_tokens: int = Field(256, ge=0, description="chunked: tokens of the previous output given as context")

    @model_validator(mode="after")
    def _function_for_custom(self) -> RolloutConfig:
        if (self.kind == "custom") != (self.function is not None):
            raise ValueError("rollout.function is required with kind: custom, and only then")
        if self.function is not None and ":" not in self.function:
            raise ValueError(f"rollout.function must look like 'package.module:function', got {self.function!r}")
        return self


class RetryConfig(Strict):
    max_attempts: int = Field(4, ge=1, description="calls per document before it is dead-lettered")
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_failure_rate: float = Field(0.2, ge=0, le=1, description="stop the run when this share of finished documents failed")
    failure_min_docs: int = Field(20, ge=1, description="the failure rate is judged only after this many documents")


class FloorThresholds(Strict):
    """Faithfulness thresholds of a content floor (postprocess/faithfulness.py measures); unset = not checked."""

    max_invented_numbers: int | None = Field(None, ge=0, description="numbers absent from the source")
    max_invented_entities: int | None = Field(None, ge=0, description="capitalised spans absent from the source")
    min_content_recall: float | None = Field(None, ge=0, le=1, description="share of the source's content words kept")
    max_novelty: float | None = Field(None, ge=0, le=1, description="share of output word 3-grams not in the source")


class PostprocessConfig(Strict):
    enabled: bool = True
    enforce: bool = Field(True, description="False: a row that fails its contract is still kept (cleaned) as ok, "
                          "with reason 'not enforced: ...', so compliance is measured but nothing is filtered "
                          "(the study trained on unfiltered outputs)")
    allow_length_finish: bool = False
    constrain: Literal["auto", "on", "off", "grounded"] = Field(
        "auto", description="constrained decoding from each prompt's contract (its per-document layout where the "
        "engine takes Lark grammars, else its structure): auto = where the engine can enforce it (else free text, "
        "with a warning); on = required (a one-line error where the engine cannot); off = never; grounded = on, and "
        "numbers only from the source, capitalised words biased toward the source's (docs/prompts.md)")
    dedup: Literal["off", "report"] = Field("off", description="report near/exact duplicates at the end (drop them with `rephraser clean --dedup drop`)")
    floor: Literal["off", "default", "custom"] = Field(
        "default", description="content floor on top of the contract: off = format only; default = the faithfulness "
        "thresholds calibrated per prompt on hand-labelled outputs (postprocess/floor.py); custom = floor_thresholds")
    floor_thresholds: dict[str, FloorThresholds] = Field(
        default_factory=dict, description="floor=custom: thresholds per prompt name, '*' for every other prompt")

    @model_validator(mode="after")
    def _custom_floor_has_thresholds(self) -> PostprocessConfig:
        if self.floor == "custom" and not self.floor_thresholds:
            raise ValueError("postprocess.floor=custom needs postprocess.floor_thresholds (per prompt name, or '*')")
        return self


class OutputConfig(Strict):
    dir: str = "out/quickstart"
    rows_per_part: int = Field(1000, ge=1)
    flush_seconds: float = Field(30.0, gt=0, description="commit a shard at least this often")
    hub_repo: str | None = Field(None, description="Hub dataset repo (org/name) that receives committed data parts "
                                 "while the run goes on (needs rephraser[hub] and a token)")
    hub_private: bool = Field(False, description="create hub_repo as a private repo (an existing repo is kept as is)")
    hub_every_s: float = Field(600.0, gt=0, description="upload committed parts to hub_repo at most this often")
    layout: Literal["rephraser", "finephrase"] = Field(
        "rephraser", description="finephrase: also write the published rows in the study's dataset layout under "
        "finephrase/<prompt>/ (text = source, rollout_results = [{text, finish_reason, usage}]); `run --schema`")
    lease_ttl_s: float = Field(60.0, ge=1.0, description="a writer's lease is stale after this long without "
                               "heartbeat (a writer on another machine that died is taken over after this)")


class RunConfig(Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    prompts: list[str] = Field(default_factory=lambda: ["faq"], min_length=1, description="prompt names or YAML paths")
    engine: EngineConfig = Field(default_factory=EngineConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    max_in_flight: int = Field(64, ge=1, description="requests kept in flight so the engine's batch stays full")
    routing: RoutingConfig | None = Field(None, description="which prompts each document gets (route_config.py); "
                                          "None = every document gets every prompt")

    @field_validator("prompts")
    @classmethod
    def _unique_prompts(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("prompts must be unique")
        return v

    @model_validator(mode="before")
    @classmethod
    def _prompts_from_routes(cls, data: Any) -> Any:
        # With routes and no `prompts:`, the run's prompts are the ones its routes name.
        if isinstance(data, dict) and isinstance(data.get("routing"), dict) and "prompts" not in data:
            try:
                names = RoutingConfig.model_validate(data["routing"]).prompt_names()
            except ValueError:
                return data  # the field validation reports it, with its path
            data = {**data, "prompts": names}
        return data

    @model_validator(mode="after")
    def _routes_use_listed_prompts(self) -> RunConfig:
        if self.routing is not None:
            for name in self.routing.prompt_names():
                if name not in self.prompts:
                    raise ValueError(f"routing names prompt {name!r}, which is not in prompts "
                                     f"({', '.join(self.prompts)}); list it there")
        return self

    # ---- serialisation -------------------------------------------------------------
    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def outcome_fields(self) -> dict[str, Any]:
        """The fields that change what a run produces (not how fast, where, or how much of it)."""
        data = self.model_dump(mode="json", exclude={"output", "max_in_flight", "retry"})
        # Raising --limit extends a run; shards share one run; how shards split the input is pinned by
        # the run folder's sharding.json instead (sources/sharding.py).
        for key in ("limit", "shard_index", "sharding"):
            data["source"].pop(key, None)
        for key in ("config", "split", "data_files"):  # unset: the same run as before these keys existed
            if data["source"].get(key) is None:
                data["source"].pop(key, None)
        # The content floor at its default keeps every existing run's identity (the policy for a new knob): a
        # folder made before the floor existed resumes, and its new rows meet the floor (`rephraser clean`
        # judges the old ones again). Off or custom is another run.
        if data["postprocess"].get("floor") == "default":
            data["postprocess"].pop("floor")
        if not data["postprocess"].get("floor_thresholds"):
            data["postprocess"].pop("floor_thresholds", None)
        # Speculation in the embedded engine samples every position with the same draws as without it
        # (engines/speculation.py): outputs do not change, so it is a speed setting like `parallel`.
        for key in ("parallel", "threads", "request_timeout_s", "server", "base_url", "api_key_env",
                    "speculative", "speculative_max_draft", "cpu_wait"):
            data["engine"].pop(key, None)
        if data["engine"].get("n_batch") is None:  # unset: the run it was before the knob existed
            data["engine"].pop("n_batch", None)
        if not data["engine"].get("context_aware_alpha"):  # off (0.0): the run it was before the knob existed
            data["engine"].pop("context_aware_alpha", None)
        if data.get("routing") is None:  # a run without routes keeps the fingerprint it had before routing existed
            data.pop("routing", None)
        else:
            for key in ("score_batch", "device"):  # how scores are computed, not which
                data["routing"].pop(key, None)
        return data

    def fingerprint(self) -> str:
        blob = json.dumps(self.outcome_fields(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_yaml(path: str | Path, model: type[BaseModel] = RunConfig, *, what: str = "config file") -> Any:
    """Load a YAML file (local or a URL, e.g. OUT/config.yaml of a run on s3://) into `model`; every
    problem (missing, unreadable, invalid) is one ConfigError line, with `file:line:column` and the line
    itself under it when the file says where. `what` names the kind of file in messages."""
    raw, text = read_yaml_document(path, what=what)
    return validate(raw, model, origin=str(path), text=text)


def read_yaml_mapping(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """The raw mapping of a YAML file (local or URL), not yet validated (CLI flags are applied to a run
    config first)."""
    return read_yaml_document(path, what=what)[0]


def read_yaml_document(path: str | Path, *, what: str = "config file") -> tuple[dict[str, Any], str]:
    """(mapping, text): the text lets a later validation error point at its line."""
    p = storage.as_location(path)
    try:
        text = storage.read_text(p)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} {p}: {str(e).splitlines()[0]}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        first, _, detail = syntax_message(e, str(p), text).partition("\n")
        raise _with_detail(ConfigError(f"{what} {first}"), detail) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {p} must be a mapping at the top level")
    return raw, text


def validate(raw: dict[str, Any], model: type[BaseModel] = RunConfig, origin: str = "config",
             text: str | None = None, flags: frozenset[str] = frozenset()) -> Any:
    """`text`: the YAML `raw` came from, so the error can name line and column; `flags`: dotted keys set on
    the command line (an error about them is not pointed at the file)."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise one_line_error(e, origin, text, flags, model) from None


def _field_names(model: type[BaseModel], path: list[Any]) -> list[str]:
    """The keys allowed at `path` of `model` (for the nearest match of an unknown key)."""
    for step in path:
        if isinstance(step, int):
            continue  # an item of a list or dict of models
        field = model.model_fields.get(str(step))
        if field is None:
            return []
        inner = _model_in(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)


def one_line_error(e: ValidationError, origin: str, text: str | None = None,
                   flags: frozenset[str] = frozenset(), model: type[BaseModel] | None = None) -> ConfigError:
    """The first validation error as `origin[:line:column]: field.path: message (+N more)`, followed by the
    line and a caret when the YAML text is known."""
    first = e.errors()[0]
    loc = [x for x in first["loc"] if not (isinstance(x, str) and x.startswith("function-"))]
    where = ".".join(str(x) for x in loc) or "(top level)"
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    if first["type"] == "extra_forbidden" and model is not None and loc:
        near = difflib.get_close_matches(str(loc[-1]), _field_names(model, loc[:-1]), n=1, cutoff=0.6)
        more = (f" (did you mean {near[0]}?)" if near else "") + more
    from_flag = any(where == f or where.startswith(f + ".") or f.startswith(where + ".") for f in flags)
    pos = locate(text, loc, key=first["type"] == "extra_forbidden") if text and not from_flag else None
    if pos is None:
        return ConfigError(f"{origin}: {where}: {first['msg']}{more}")
    return _with_detail(ConfigError(f"{origin}:{pos[0]}:{pos[1]}: {where}: {first['msg']}{more}"),
                        excerpt(text or "", *pos))


def _with_detail(error: ConfigError, detail: str) -> ConfigError:
    error.detail = detail or None
    return error
