"""The run configuration: one pydantic object describes a run completely.

`RunConfig` is loaded from YAML (`rephraser run --config run.yaml`) or filled from CLI flags, and the
resolved object is written to `<output>/config.yaml` so that `rephraser run --config <output>/config.yaml`
reproduces the run. `fingerprint()` is its identity: what the run produces, not how fast or where.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from rephraser.config.engine import EngineConfig, LlamaCppConfig
from rephraser.config.legacy import move_constrain
from rephraser.config.sections import (
    OutputConfig,
    PostprocessConfig,
    RetryConfig,
    RolloutConfig,
    SamplingConfig,
    SourceConfig,
    Strict,
)
from rephraser.route_config import RoutingConfig


class RunConfig(Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    prompts: list[str] = Field(default_factory=lambda: ["faq"], min_length=1, description="prompt names or YAML paths")
    engine: EngineConfig = Field(default_factory=LlamaCppConfig)
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
    def _decode_settings_in_the_engine(cls, data: Any) -> Any:
        return move_constrain(data)

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

    def outcome_fields(self, prompt_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The fields that change what a run produces (not how fast, where, or how much of it).
        prompt_ids: prompt ref -> the id it enters the identity as (prompts/registry.py `prompt_ids`: a
        file by the name it declares, not its path); without it, the refs as listed."""
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
        # The engine's part comes from its fields' marks (config/marks.py); a field that moved into the
        # engine (constrain) is fingerprinted in its old section.
        data["engine"], elsewhere = self.engine.outcome()
        for (section, key), value in elsewhere.items():
            data[section][key] = value
            order = list(type(getattr(self, section)).model_fields)  # its old place in the section
            data[section] = dict(sorted(data[section].items(), key=lambda kv: order.index(kv[0])))
        if data.get("routing") is None:  # a run without routes keeps the fingerprint it had before routing existed
            data.pop("routing", None)
        else:
            for key in ("score_batch", "device"):  # how scores are computed, not which
                data["routing"].pop(key, None)
        return with_prompt_ids(data, prompt_ids) if prompt_ids else data

    def fingerprint(self, prompt_ids: Mapping[str, str] | None = None) -> str:
        return fingerprint_of(self.outcome_fields(prompt_ids))


FILE_PROMPT = "file:"  # a prompt file's id in a run's identity is this + the name it declares (never its path)


def fingerprint_of(outcome: dict[str, Any]) -> str:
    """The fingerprint of a run's outcome fields (RunConfig.outcome_fields)."""
    return hashlib.sha256(json.dumps(outcome, sort_keys=True).encode()).hexdigest()[:16]


def with_prompt_ids(outcome: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """Outcome fields with every prompt ref that `ids` knows replaced by its id: in `prompts` and in each
    route's prompts (a list, or the keys of a weight mapping, in their order)."""
    out = dict(outcome, prompts=[ids.get(r, r) for r in outcome.get("prompts", [])])
    routing = outcome.get("routing")
    if isinstance(routing, dict):
        def swap(route: dict[str, Any]) -> dict[str, Any]:
            p = route.get("prompts")
            new = {ids.get(k, k): w for k, w in p.items()} if isinstance(p, dict) else [ids.get(k, k) for k in p or []]
            return {**route, "prompts": new}
        out["routing"] = {**routing, "routes": [swap(r) for r in routing.get("routes", [])],
                          "default": swap(routing["default"])}
    return out
