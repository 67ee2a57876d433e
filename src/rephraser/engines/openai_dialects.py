"""What each OpenAI-compatible server understands beyond the standard chat/completions fields.

Servers agree on `temperature`, `top_p`, `max_tokens` and `seed`; everything else differs: whether
`top_k` and a repetition penalty exist (and under which name), how a grammar / regex / JSON schema is
passed for structured outputs, and whether chat-template arguments are accepted. A dialect names one
server family; `engine.dialect: auto` asks GET /v1/models who owns the model (vLLM says "vllm",
llama-server "llamacpp", SGLang "sglang", OpenAI "openai"/"system") and falls back to `generic`
(standard fields only). A field the dialect does not support is not sent, and the row's `sampling`
column records only what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rephraser.engines.base import OutputStructure, Sampling

STANDARD_SAMPLING = frozenset({"temperature", "top_p", "max_tokens", "seed"})


def _json(value: str) -> Any:
    return json.loads(value)


@dataclass(frozen=True)
class Dialect:
    name: str
    top_k: bool = False
    repetition_penalty: str | None = None  # the server's field name, None = unsupported
    chat_template_kwargs: bool = False
    # `logit_bias` {token id: bias} without a small cap on its size (OpenAI's own API takes 300 entries:
    # too few for the entity bias of `constrain: grounded`, which touches thousands of tokens)
    logit_bias: bool = False
    # OutputStructure.form -> body fields carrying it
    structures: dict[str, Callable[[str], dict[str, Any]]] = field(default_factory=dict)

    @property
    def structure_forms(self) -> frozenset[str]:
        return frozenset(self.structures)

    @property
    def sampling_fields(self) -> frozenset[str]:
        extra = {"top_k"} if self.top_k else set()
        if self.repetition_penalty:
            extra.add("repetition_penalty")
        return STANDARD_SAMPLING | extra

    def sampling_body(self, s: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens,
                                "seed": s.seed}
        if self.top_k and s.top_k > 0:
            body["top_k"] = s.top_k
        if self.repetition_penalty and s.repetition_penalty != 1.0:
            body[self.repetition_penalty] = s.repetition_penalty
        return body

    def structure_body(self, st: OutputStructure) -> dict[str, Any]:
        build = self.structures.get(st.form)
        if build is None:  # the runner checks forms at start; this guards direct callers
            raise ValueError(f"the {self.name} dialect cannot send a {st.form} structure")
        return build(st.value)


def _response_format(value: str) -> dict[str, Any]:
    return {"response_format": {"type": "json_schema",
                                "json_schema": {"name": "output", "schema": _json(value), "strict": True}}}


DIALECTS: dict[str, Dialect] = {
    # vLLM >= 0.12: structured_outputs {grammar|regex|json}; grammars may be GBNF or Lark (vLLM converts)
    "vllm": Dialect("vllm", top_k=True, repetition_penalty="repetition_penalty", chat_template_kwargs=True,
                    logit_bias=True, structures={
                        "gbnf": lambda v: {"structured_outputs": {"grammar": v}},
                        "lark": lambda v: {"structured_outputs": {"grammar": v}},
                        "regex": lambda v: {"structured_outputs": {"regex": v}},
                        "json_schema": lambda v: {"structured_outputs": {"json": _json(v)}},
                    }),
    # vLLM before 0.12: the guided_* fields
    "vllm-guided": Dialect("vllm-guided", top_k=True, repetition_penalty="repetition_penalty",
                           chat_template_kwargs=True, logit_bias=True, structures={
                               "gbnf": lambda v: {"guided_grammar": v},
                               "lark": lambda v: {"guided_grammar": v},
                               "regex": lambda v: {"guided_regex": v},
                               "json_schema": lambda v: {"guided_json": _json(v)},
                           }),
    # llama.cpp's llama-server: GBNF `grammar`, `json_schema`; no regex
    "llama-server": Dialect("llama-server", top_k=True, repetition_penalty="repeat_penalty",
                            chat_template_kwargs=True, logit_bias=True, structures={
                                "gbnf": lambda v: {"grammar": v},
                                "json_schema": lambda v: {"json_schema": _json(v)},
                            }),
    # SGLang: `ebnf` (GBNF syntax with its default xgrammar backend), `regex`, OpenAI-style JSON schema
    "sglang": Dialect("sglang", top_k=True, repetition_penalty="repetition_penalty", chat_template_kwargs=True,
                      structures={
                          "gbnf": lambda v: {"ebnf": v},
                          "regex": lambda v: {"regex": v},
                          "json_schema": _response_format,
                      }),
    # OpenAI's own API: JSON schema through response_format only; no top_k, no repetition penalty
    "openai": Dialect("openai", structures={"json_schema": _response_format}),
    # unknown servers: the standard fields only
    "generic": Dialect("generic"),
}

# GET /v1/models "owned_by" -> dialect (auto)
OWNERS: dict[str, str] = {"vllm": "vllm", "llamacpp": "llama-server", "sglang": "sglang", "openai": "openai",
                          "system": "openai", "openai-internal": "openai"}


def dialect_from_models(payload: Any) -> str:
    """The dialect a /v1/models response points to (generic when it does not say)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, list):
        for m in data:
            owner = m.get("owned_by") if isinstance(m, dict) else None
            if isinstance(owner, str) and owner.lower() in OWNERS:
                return OWNERS[owner.lower()]
    return "generic"
