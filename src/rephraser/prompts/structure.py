"""The output structure a prompt's contract may declare, for constrained decoding.

One of three forms, whichever fits the layout:
- `grammar`: a GBNF grammar (llama.cpp's syntax, also what llama-server, vLLM and SGLang accept), or a
  Lark grammar in llguidance's dialect (a text starting with `%llguidance` or containing `start:`);
- `regex`: a regular expression the whole output must match;
- `json_schema`: a JSON schema (a mapping).

The structure is data in the prompt file, so it is covered by the prompt's hash. It is compiled with
llguidance (the library the embedded engine decodes with; vLLM's `guidance` backend is the same
library) when the prompt file is loaded, so a malformed grammar is a one-line error at load time and
never a surprise in the middle of a run.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Form = Literal["grammar", "regex", "json_schema"]
FORMS: tuple[str, ...] = ("grammar", "regex", "json_schema")


class Structure(BaseModel):
    """Exactly one of grammar / regex / json_schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grammar: str | None = Field(None, description="GBNF (llama.cpp) or llguidance Lark grammar of the whole output")
    regex: str | None = Field(None, description="regular expression the whole output matches")
    json_schema: dict[str, Any] | None = Field(None, description="JSON schema of the output")

    @model_validator(mode="after")
    def _exactly_one_and_valid(self) -> Structure:
        given = [f for f in FORMS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(FORMS)} (got {', '.join(given) or 'none'})")
        problem = structure_problem(self.form, self.value)
        if problem:
            raise ValueError(f"malformed {self.form}: {problem}")
        return self

    @property
    def form(self) -> str:
        return next(f for f in FORMS if getattr(self, f) is not None)

    @property
    def value(self) -> str:
        """The structure as text (a JSON schema as canonical JSON)."""
        v = getattr(self, self.form)
        return json.dumps(v, sort_keys=True, separators=(",", ":")) if isinstance(v, dict) else v

    @property
    def kind(self) -> str:
        """What an engine must understand: gbnf | lark | regex | json_schema."""
        if self.form == "grammar":
            return "lark" if is_lark(self.value) else "gbnf"
        return self.form


def is_lark(grammar: str) -> bool:
    from llguidance.gbnf_to_lark import is_lark_syntax

    return is_lark_syntax(grammar)


@lru_cache(maxsize=256)
def to_llguidance(form: str, value: str) -> str:
    """The llguidance grammar for a structure; ValueError (one line) when it does not compile."""
    import llguidance

    try:
        if form in ("grammar", "gbnf", "lark"):
            grammar = llguidance.grammar_from("grammar", value)
        elif form == "regex":
            grammar = llguidance.LLMatcher.grammar_from_regex(value)
        elif form == "json_schema":
            grammar = llguidance.LLMatcher.grammar_from_json_schema(value)
        else:
            raise ValueError(f"unknown structure form {form!r}")
    except (ValueError, TypeError, RuntimeError) as e:
        raise ValueError(_one_line(str(e))) from None
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise ValueError(_one_line(messages[0] if messages else "invalid grammar"))
    return grammar


def structure_problem(form: str, value: str) -> str | None:
    try:
        to_llguidance(form, value)
    except ValueError as e:
        return str(e)
    except ImportError:  # llguidance is a core dependency; this only guards a broken install
        return "llguidance is not installed: pip install llguidance"
    return None


def _one_line(text: str, limit: int = 240) -> str:
    # llguidance errors carry the whole grammar after the message; keep the message.
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "invalid grammar")
    return first if len(first) <= limit else first[: limit - 3] + "..."
