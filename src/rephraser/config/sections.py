"""The sections of a run config that every engine shares: source, sampling, rollout, retries,
post-processing and output (the engine section is engine.py; the whole run is run.py).

Every model forbids unknown keys so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# Constrained decoding from each prompt's contract: a decode-time setting (engine.constrain).
Constrain = Literal["auto", "on", "off", "grounded"]


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


class RolloutConfig(Strict):
    """How one document becomes model calls (see generate/rollouts.py)."""

    kind: Literal["single", "samples", "chunked", "custom"] = "single"
    keep: Literal["all", "best", "first_ok"] = Field(
        "all", description="samples: all rows; the best of n by contract + faithfulness; or first_ok: sample "
        "one at a time until one passes the contract (at most n calls, the best of them when none does)")
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
    # The old place of engine.constrain, still read: RunConfig moves it to the engine (config/legacy.py).
    # A grid's generators override it here too (experiments/config.py). Never written back.
    constrain: Constrain | None = Field(None, description="deprecated: engine.constrain")
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

    @model_serializer(mode="wrap")
    def _without_moved_keys(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("constrain") is None:
            data.pop("constrain", None)  # unset: config.yaml and fingerprints as before the key moved
        return data


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
