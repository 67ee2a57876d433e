"""What a mixture is: components with token weights, a total token budget and a seed.

YAML example (`rephraser mix --config mix.yaml`):

    tokens: 2000000
    seed: 0
    output: out/mix_table70
    components:
      - {path: out/run_table, prompt: table, weight: 0.7}   # a rephraser output folder
      - {path: wiki, weight: 0.3}                            # original documents (any source path)

Weights are relative (normalised to sum to 1); each component receives round(weight * tokens)
tokens. CLI shortcut for a component: `PATH[#PROMPT]:WEIGHT`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rephraser import storage
from rephraser.errors import ConfigError


class MixComponent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., min_length=1, description="rephraser output folder, source file/folder, or 'wiki'")
    weight: float = Field(..., gt=0, description="relative share of the token budget")
    kind: Literal["auto", "rephrased", "source"] = Field(
        "auto", description="auto: a folder with data/ and manifests/ is a rephraser output, anything else a source"
    )
    prompt: str | None = Field(None, description="rephrased only: take only this prompt's rows")
    text_column: str = Field("text", description="source only: column holding the text")
    name: str | None = Field(None, description="label in the mixed rows and the manifest (default: derived)")

    def resolved_kind(self) -> Literal["rephrased", "source"]:
        if self.kind != "auto":
            return self.kind
        return "rephrased" if storage.is_dir(storage.as_location(self.path) / "data") else "source"

    def label(self) -> str:
        if self.name:
            return self.name
        base = storage.as_location(self.path).name or self.path
        return f"{base}#{self.prompt}" if self.prompt else base


class MixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    components: list[MixComponent] = Field(..., min_length=1)
    tokens: int = Field(..., ge=1, description="total token budget of the mixture")
    seed: int = 0
    output: str = "out/mix"
    tokenizer: str | None = Field(
        None, description="tokenizer.json (or folder) used to count tokens; None = UTF-8 bytes / 4 estimate"
    )
    rows_per_part: int = Field(50_000, ge=1)

    @field_validator("components")
    @classmethod
    def _unique_labels(cls, v: list[MixComponent]) -> list[MixComponent]:
        labels = [c.label() for c in v]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"component labels must be unique (set `name`): {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _prompt_only_for_rephrased(self) -> MixConfig:
        for c in self.components:
            if c.prompt and c.kind == "source":
                raise ValueError(f"component {c.path}: prompt applies to rephrased outputs only")
        return self

    def shares(self) -> list[float]:
        total = sum(c.weight for c in self.components)
        return [c.weight / total for c in self.components]


def parse_component(spec: str) -> MixComponent:
    """`PATH[#PROMPT]:WEIGHT` -> MixComponent (the weight after the last colon)."""
    path, sep, weight = spec.rpartition(":")
    if not sep or not path:
        raise ConfigError(f"component {spec!r} must look like PATH:WEIGHT or PATH#PROMPT:WEIGHT")
    try:
        w = float(weight)
    except ValueError:
        raise ConfigError(f"component {spec!r}: weight {weight!r} is not a number") from None
    if w <= 0:
        raise ConfigError(f"component {spec!r}: weight must be > 0")
    prompt = None
    if "#" in path:
        path, _, prompt = path.rpartition("#")
    return MixComponent(path=path, weight=w, prompt=prompt or None)
