"""PromptSpec: a prompt is data, not code.

A prompt file (YAML) holds its name, family, version, intent, an optional system prompt, a template
with one `{document}` slot, and its contract: the output structure to enforce while decoding (grammar /
regex / JSON schema), and how the raw model output is cleaned and judged (prefixes to strip, think
blocks, tagged block to keep, validator name, output/input length window, faithfulness thresholds,
input token window). The hash of
the file's canonical content goes into every output row and into the request cache key, so editing a
prompt can never silently mix old and new generations.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rephraser.config import load_yaml
from rephraser.prompts.layouts import LAYOUTS
from rephraser.prompts.structure import Structure
from rephraser.prompts.validators import VALIDATORS

SLOT = "{document}"
# Optional fields added after prompts were first hashed: left out of the canonical form while unset,
# so the hash of every prompt that does not use them stays what it was.
_OMIT_WHEN_UNSET = {
    "system": None,
    "contract": {"structure", "layout", "max_invented_numbers", "max_invented_entities", "min_content_recall", "max_novelty"},
}


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strip_prefixes: tuple[str, ...] = Field((), description="announcing lines removed from the start (case-insensitive)")
    think_blocks: Literal["drop", "keep"] = "drop"
    keep_tagged_block: str | None = Field(None, description="keep only the text inside <tag>...</tag> (REWIRE style)")
    validator: str | None = Field(None, description="format validator name (prompts/validators.py)")
    min_length_ratio: float | None = Field(None, ge=0, description="min output chars / input chars")
    max_length_ratio: float | None = Field(None, ge=0, description="max output chars / input chars")
    allow_length_finish: bool = Field(False, description="accept outputs cut by max_tokens")
    reject_preambles: bool = Field(True, description="reject refusals; strip 'Here is ...' preambles")
    structure: Structure | None = Field(None, description="output structure enforced while decoding "
                                        "(engine.constrain); the validator still judges the output")
    layout: str | None = Field(None, description="per-document grammar (prompts/layouts.py) used instead of "
                               "`structure` where the engine takes Lark grammars: sized from the source, labels "
                               "in its language, and with constrain: grounded, only the source's numbers")
    # Faithfulness thresholds (postprocess/faithfulness.py); unset = measured, not enforced.
    max_invented_numbers: int | None = Field(None, ge=0, description="numbers absent from the source")
    max_invented_entities: int | None = Field(None, ge=0, description="capitalised spans absent from the source")
    min_content_recall: float | None = Field(None, ge=0, le=1, description="share of the source's content words kept")
    max_novelty: float | None = Field(None, ge=0, le=1, description="share of output word 3-grams not in the source")

    @field_validator("validator")
    @classmethod
    def _known_validator(cls, v: str | None) -> str | None:
        if v is not None and v not in VALIDATORS:
            raise ValueError(f"unknown validator {v!r}; known: {', '.join(sorted(VALIDATORS))}")
        return v

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, v: str | None) -> str | None:
        if v is not None and v not in LAYOUTS:
            raise ValueError(f"unknown layout {v!r}; known: {', '.join(sorted(LAYOUTS))}")
        return v


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    family: str
    version: str = "1"
    intent: str
    template: str
    mode: Literal["chat", "continuation"] = Field("chat", description="chat = one user message; continuation = raw text prefix")
    system: str | None = Field(None, description="optional system message sent before the user message (chat mode)")
    input_window_tokens: int | None = Field(None, ge=16, description="max document tokens given to the model")
    contract: Contract = Field(default_factory=Contract)

    @field_validator("template")
    @classmethod
    def _one_slot(cls, v: str) -> str:
        n = v.count(SLOT)
        if n != 1:
            raise ValueError(f"template must contain exactly one {SLOT} slot (found {n})")
        return v

    @model_validator(mode="after")
    def _ratio_window(self) -> PromptSpec:
        c = self.contract
        if c.min_length_ratio is not None and c.max_length_ratio is not None and c.min_length_ratio > c.max_length_ratio:
            raise ValueError("contract.min_length_ratio must be <= contract.max_length_ratio")
        if self.system is not None and self.mode == "continuation":
            raise ValueError("system applies to chat prompts only (mode: chat)")
        return self

    def messages(self, document: str) -> tuple[dict[str, str], ...]:
        """The chat messages for one document: the optional system message, then the user message."""
        user = {"role": "user", "content": self.render(document)}
        return ({"role": "system", "content": self.system}, user) if self.system else (user,)

    # ---- identity -------------------------------------------------------------------
    def canonical(self) -> str:
        data = self.model_dump(mode="json")
        for key, sub in _OMIT_WHEN_UNSET.items():
            if sub is None:
                if data.get(key) is None:
                    data.pop(key, None)
            else:
                for k in sub:
                    if data[key].get(k) is None:
                        data[key].pop(k, None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:12]

    # ---- rendering ------------------------------------------------------------------
    def render(self, document: str) -> str:
        # str.replace, not str.format: documents are full of braces.
        return self.template.replace(SLOT, document)

    def overhead_text(self) -> str:
        """The template without the document, for counting the prompt's own tokens."""
        return self.template.replace(SLOT, "")


def load_prompt_file(path: str | Path) -> PromptSpec:
    return load_yaml(path, PromptSpec, what="prompt file")
