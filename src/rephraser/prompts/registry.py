"""Find prompts by name (the shipped library) or by path (a user's own YAML file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rephraser.errors import ConfigError
from rephraser.prompts.spec import PromptSpec, load_prompt_file

LIBRARY_DIR = Path(__file__).parent / "library"


@lru_cache(maxsize=1)
def library() -> dict[str, PromptSpec]:
    specs: dict[str, PromptSpec] = {}
    for f in sorted(LIBRARY_DIR.glob("*.yaml")):
        spec = load_prompt_file(f)
        if spec.name != f.stem:
            raise ConfigError(f"library prompt {f.name} declares name {spec.name!r}; the file must be named after it")
        specs[spec.name] = spec
    return specs


def resolve_prompt(ref: str) -> PromptSpec:
    """A library name ("faq") or a path to a YAML prompt file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return load_prompt_file(ref)
    specs = library()
    if ref not in specs:
        raise ConfigError(f"unknown prompt {ref!r}; see `rephraser prompts list` or pass a YAML file path")
    return specs[ref]
