"""Document routing in the run config: which prompts each document gets, by rules or scores.

A run with `routing:` does not give every document every listed prompt: the routes are tried in
order, the first whose `when:` holds decides, and the `default` route takes the rest. A route's
prompts are a list (all of them, or `pick` of them) or a mapping prompt -> weight (`pick` of them,
default 1, drawn by weight). Draws hash the document id with `routing.seed`, so a rerun routes every
document the same way. The whole `routing:` block is part of the run's fingerprint; a run without it
keeps the fingerprint it always had.

    routing:
      classifiers: {edu: {path: models/fineweb-edu}}      # score sources, as `stats --classifier` loads them
      routes:
        - name: numeric_facts
          when: {numbers: {min: 3}}                        # every key of `when` must hold
          prompts: [table]
        - name: high_quality
          when: {score: {edu: {min: 3}}}
          prompts: {diverse_qa_pairs: 1, distill: 1, extract_knowledge: 1, knowledge_list: 1}
          pick: 2
      default: {prompts: [faq]}

The conditions are evaluated in routing/ (this module only describes and validates them).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Sparse(_Strict):
    """Written without its unset (None) keys: config.yaml and the fingerprint show only what was said."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}


class Range(_Sparse):
    """A closed interval; a bare number in YAML means `{min: N}`."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _number_is_min(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"min": data}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Condition(_Sparse):
    """Every key given must hold (AND); `any` is an OR of conditions and `not` negates one."""

    numbers: Range | None = Field(None, description="count of numbers (digit runs like 1,234.5) in the document")
    tokens: Range | None = Field(None, description="document length in tokens (routing.tokenizer, else ≈4 bytes/token)")
    language: list[str] | None = Field(None, description="detected language code(s), e.g. [en, fr]")
    has_table: bool | None = Field(None, alias="table", description="the document holds a table (pipe- or "
                                   "tab-separated rows)")
    has_list: bool | None = Field(None, alias="list", description="the document holds a list (bulleted or numbered lines)")
    regex: str | None = Field(None, description="a Python regular expression found anywhere in the text")
    score: dict[str, Range] | None = Field(None, description="classifier name -> range of its score")
    function: str | None = Field(None, description="'package.module:function' called with the Document; truthy holds")
    any: list[Condition] | None = Field(None, min_length=1)
    not_: Condition | None = Field(None, alias="not")

    # YAML keys are the aliases (`table`, `list`, `not`); config.yaml is written with them too.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True,
                              serialize_by_alias=True)

    @field_validator("language", mode="before")
    @classmethod
    def _one_language(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v

    @field_validator("function")
    @classmethod
    def _import_path(cls, v: str | None) -> str | None:
        if v is not None and (":" not in v or not all(v.partition(":")[::2])):
            raise ValueError(f"must look like 'package.module:function', got {v!r}")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_dump(exclude_none=True):
            raise ValueError("an empty condition; give at least one of: " + ", ".join(CONDITION_KEYS))
        return self

    def score_names(self) -> set[str]:
        names = set(self.score or {})
        for sub in (self.any or []) + ([self.not_] if self.not_ else []):
            names |= sub.score_names()
        return names


CONDITION_KEYS = ("numbers", "tokens", "language", "table", "list", "regex", "score", "function", "any", "not")


class RoutePrompts(_Strict):
    """What a route gives its documents: all of `prompts`, or `pick` of them (by weight when a mapping)."""

    prompts: list[str] | dict[str, float] = Field(..., description="prompt names, or prompt -> weight")
    pick: int | None = Field(None, ge=1, description="how many prompts each document gets (default: all of a "
                             "list, 1 of a weighted mapping)")

    @field_validator("prompts")
    @classmethod
    def _prompts_ok(cls, v: list[str] | dict[str, float]) -> list[str] | dict[str, float]:
        names = list(v)
        if not names:
            raise ValueError("a route needs at least one prompt")
        if len(set(names)) != len(names):
            raise ValueError("prompts must be unique")
        if isinstance(v, dict) and any(w <= 0 for w in v.values()):
            raise ValueError("prompt weights must be > 0")
        return v

    @model_validator(mode="after")
    def _pick_fits(self) -> RoutePrompts:
        if self.pick is not None and self.pick > len(self.prompts):
            raise ValueError(f"pick {self.pick} is more than the {len(self.prompts)} prompt(s) listed")
        return self

    @property
    def count(self) -> int:
        return self.pick or (1 if isinstance(self.prompts, dict) else len(self.prompts))

    def weights(self) -> dict[str, float]:
        return dict(self.prompts) if isinstance(self.prompts, dict) else dict.fromkeys(self.prompts, 1.0)


class Route(RoutePrompts):
    name: str
    when: Condition


class ClassifierSource(_Strict):
    """A quality classifier for `score` conditions: a transformers folder or a fastText file (as
    `stats --classifier NAME=PATH[#LABEL]`)."""

    path: str
    label: str | None = None


class RoutingConfig(_Strict):
    routes: list[Route] = Field(default_factory=list, description="tried in order; the first that holds decides")
    default: RoutePrompts = Field(..., description="the route of every document no route takes")
    seed: int = Field(0, description="seed of the weighted draws (hashed with the document id)")
    tokenizer: str | None = Field(None, description="tokenizer.json for `tokens` (default: ≈4 UTF-8 bytes per token)")
    classifiers: dict[str, ClassifierSource] = Field(default_factory=dict)
    score_batch: int = Field(64, ge=1, description="documents scored per classifier call")
    device: Literal["cpu", "cuda", "mps"] = "cpu"

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        names = [r.name for r in self.routes]
        for n in names:
            if not _NAME.match(n) or n == DEFAULT_ROUTE:
                raise ValueError(f"route name {n!r} must match [A-Za-z0-9][A-Za-z0-9_.]* and not be {DEFAULT_ROUTE!r}")
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        for r in self.routes:
            missing = sorted(r.when.score_names() - set(self.classifiers))
            if missing:
                have = ", ".join(self.classifiers) or "none"
                raise ValueError(f"route {r.name}: score of unknown classifier {missing[0]!r} (routing.classifiers: {have})")
        return self

    def score_names(self) -> set[str]:
        """The classifiers some route's condition reads (only those are computed)."""
        return set().union(*(r.when.score_names() for r in self.routes))

    def prompt_names(self) -> list[str]:
        """Every prompt some route may give, in first-seen order."""
        seen: list[str] = []
        for r in [*self.routes, self.default]:
            seen.extend(p for p in r.prompts if p not in seen)
        return seen


DEFAULT_ROUTE = "default"
