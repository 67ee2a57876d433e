"""vLLM's speculative decoding as typed run-config fields (`engine.speculative` of a vllm engine).

Three methods, the ones a rewriting workload can use: `ngram` (draft-free prompt lookup: the next tokens
are guessed from a match of the recent output in the prompt, which holds the source document), `suffix`
(draft-free, a suffix tree over the prompt and earlier outputs; vLLM needs the arctic-inference package)
and `draft_model` (a small model of the same tokenizer guesses). `to_vllm()` is the `speculative_config`
engine argument vLLM takes.

The study measured n-gram speculation at +58–60% for SmolLM2 and −2% to −16% for larger models, so it is
off by default and set per model (docs/engines.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rephraser.config.sections import Strict

VLLM_METHODS = ("ngram", "suffix", "draft_model")
# Guessed tokens per step when not given: our n-gram default since engine_args.ngram_speculation existed.
DEFAULT_TOKENS = 4


class VllmSpeculation(Strict):
    """`engine.speculative` of a vllm engine: `off`, a method name, or this mapping."""

    method: Literal["ngram", "suffix", "draft_model"]
    num_speculative_tokens: int | None = Field(
        None, ge=1, le=64, description=f"tokens guessed per step (None: {DEFAULT_TOKENS} for ngram and "
        "draft_model; suffix: vLLM's own, the suffix tree's depth)")
    prompt_lookup_min: int | None = Field(None, ge=1, description="ngram: shortest match looked up (None: 2)")
    prompt_lookup_max: int | None = Field(None, ge=1, description="ngram: longest match looked up (None: 4)")
    model: str | None = Field(None, description="draft_model: the draft model (local path or HF id), same "
                              "tokenizer as engine.model")

    @model_validator(mode="after")
    def _fields_of_the_method(self) -> VllmSpeculation:
        if (self.method == "draft_model") != (self.model is not None):
            raise ValueError("speculative.model (the draft model) is needed with method draft_model, and only then")
        lookup = self.prompt_lookup_min is not None or self.prompt_lookup_max is not None
        if lookup and self.method != "ngram":
            raise ValueError("speculative.prompt_lookup_min/max are the ngram method's")
        low, high = self.prompt_lookup_min or 2, self.prompt_lookup_max or 4
        if self.method == "ngram" and low > high:
            raise ValueError(f"speculative.prompt_lookup_min {low} is above prompt_lookup_max {high}")
        return self

    def to_vllm(self) -> dict[str, Any]:
        """The `speculative_config` engine argument (vllm.config.SpeculativeConfig's keys)."""
        spec: dict[str, Any] = {"method": self.method}
        tokens = self.num_speculative_tokens or (None if self.method == "suffix" else DEFAULT_TOKENS)
        if tokens is not None:
            spec["num_speculative_tokens"] = tokens
        if self.method == "ngram":
            spec["prompt_lookup_min"] = self.prompt_lookup_min or 2
            spec["prompt_lookup_max"] = self.prompt_lookup_max or 4
        if self.model is not None:
            spec["model"] = self.model
        return spec

    def describe(self) -> str:
        """One line for `rephraser plan` and the dataset card."""
        return ", ".join(f"{k} {v}" for k, v in self.to_vllm().items())


def vllm_speculative(value: Any) -> Any:
    """A method name is the method with its defaults (`--speculative ngram` on the command line); a
    mapping is read here, so its errors are its own (not "should be 'off'" from the other half of the union)."""
    if isinstance(value, str) and value in VLLM_METHODS:
        value = {"method": value}
    if isinstance(value, dict):
        return VllmSpeculation.model_validate(value)
    return value
