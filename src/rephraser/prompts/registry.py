"""Find prompts by name (the shipped library) or by path (a user's own YAML file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rephraser.config.run import FILE_PROMPT
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
    if is_file_ref(ref):
        return load_prompt_file(ref)
    specs = library()
    if ref not in specs:
        raise ConfigError(f"unknown prompt {ref!r}; see `rephraser prompts list` or pass a YAML file path")
    return specs[ref]


def resolve_prompts(refs: list[str]) -> list[PromptSpec]:
    """Resolve every prompt of a run; two refs that load prompts with the same `name` are refused,
    because a prompt's name is its output folder and its identity in every row and manifest."""
    specs: list[PromptSpec] = []
    first_ref: dict[str, str] = {}
    for ref in refs:
        spec = resolve_prompt(ref)
        if spec.name in first_ref:
            raise ConfigError(f"two prompts are both named {spec.name!r}: {_source(first_ref[spec.name])} and "
                              f"{_source(ref)}; give one of them another `name`")
        first_ref[spec.name] = ref
        specs.append(spec)
    return specs


def is_file_ref(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref


def prompt_ids(refs: list[str], specs: list[PromptSpec]) -> dict[str, str]:
    """ref -> how the prompt enters a run's identity (RunConfig.outcome_fields): a library prompt by its name,
    as it always did; a file by `file:` + the name it declares, never its path, so the same prompt found at
    another path (a moved folder, another checkout, `./p.yaml` spelled `p.yaml`) is the same run. What it
    says is in the identity too: run.json's prompt hashes."""
    return {ref: FILE_PROMPT + spec.name if is_file_ref(ref) else ref for ref, spec in zip(refs, specs, strict=True)}


def _source(ref: str) -> str:
    return f"file {ref}" if is_file_ref(ref) else f"library prompt {ref!r}"
