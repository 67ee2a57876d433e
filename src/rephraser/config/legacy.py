"""Config files written before a key moved or a section split: still read, their runs keep their identity.

- The engine section was one flat model holding every kind's fields, so each older `OUT/config.yaml`
  holds them all (a llamacpp run's `base_url: null`, an openai run's `threads: null`). A field another
  kind owns is dropped when it is at the flat section's default; at any other value it is an error
  (it never did anything for this kind).
- `postprocess.constrain` is now `engine.constrain` (it acts while decoding). The old key is read, moved,
  and named once per process with its new place.

Both keep fingerprints: the flat section fingerprinted `tokenizer`, `engine_args` and `dialect` for every
kind, so a kind without one of them still carries it at the flat default (`FLAT_OUTCOME_DEFAULTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from rephraser.logs import get_logger

log = get_logger(__name__)

# The flat engine section's defaults, as every config.yaml before the per-kind classes holds them (frozen:
# a new engine field belongs to its kind's class, never here).
FLAT_DEFAULTS: dict[str, Any] = {
    "parallel": 8, "threads": None, "context_aware_alpha": 0.0, "speculative": "off", "speculative_max_draft": 8,
    "n_batch": None, "cpu_wait": "bounded", "base_url": None, "api_key_env": None, "tokenizer": None,
    "server": None, "request_timeout_s": 600.0, "engine_args": {}, "chat_template_kwargs": {}, "dialect": "auto",
}
FLAT_OUTCOME_DEFAULTS: dict[str, Any] = {"tokenizer": None, "engine_args": {}, "dialect": "auto"}
FLAT_ORDER = ("kind", "model", "n_ctx", *FLAT_DEFAULTS)  # the flat section's field order


def in_flat_order(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` in the flat section's order (fields it did not have last), as earlier specs listed them."""
    place = {k: i for i, k in enumerate(FLAT_ORDER)}
    return dict(sorted(fields.items(), key=lambda kv: place.get(kv[0], len(place))))

MOVED = {("postprocess", "constrain"): ("engine", "constrain")}
_said: set[tuple[str, str]] = set()


def drop_flat_defaults(fields: set[str], data: Any) -> Any:
    """`data` (an engine mapping) without the other kinds' fields left at the flat section's default."""
    if not isinstance(data, Mapping):
        return data
    return {k: v for k, v in data.items() if k in fields or k not in FLAT_DEFAULTS or v != FLAT_DEFAULTS[k]}


def move_constrain(data: Any) -> Any:
    """A run config mapping with `postprocess.constrain` moved to `engine.constrain`. The sections may be
    mappings (a YAML file) or models (a grid's generator overrides the engine's value this way)."""
    if not isinstance(data, Mapping):
        return data
    post = data.get("postprocess")
    old = post.get("constrain") if isinstance(post, Mapping) else getattr(post, "constrain", None)
    if old is None:
        return data
    engine = data.get("engine", {})
    if isinstance(engine, BaseModel):
        engine = engine.model_copy(update={"constrain": old})
    elif isinstance(engine, Mapping):
        if engine.get("constrain", old) != old:
            raise ValueError(f"engine.constrain {engine['constrain']} and postprocess.constrain {old} (its old "
                             "place) disagree: keep engine.constrain")
        engine = {**engine, "constrain": old}
    if isinstance(post, BaseModel):
        post = post.model_copy(update={"constrain": None})
    elif isinstance(post, Mapping):
        post = {k: v for k, v in post.items() if k != "constrain"}
    return {**data, "engine": engine, "postprocess": post}


def note_moved_keys(raw: Mapping[str, Any], origin: str) -> None:
    """One line per moved key a file still uses (the first time this process reads it)."""
    for path, new in MOVED.items():
        where = _find(raw, path)
        if where and path not in _said:
            _said.add(path)
            grid = " (in a grid: each generator's engine)" if where != ".".join(path) else ""
            log.warning("%s: %s is deprecated, write %s%s instead (it is read as that)", origin, where,
                        ".".join(new), grid)


def _find(raw: Any, path: tuple[str, str], prefix: str = "", depth: int = 0) -> str | None:
    """The dotted place of `path` in `raw` (at the top, or in a grid's generation section)."""
    if not isinstance(raw, Mapping) or depth > 2:
        return None
    section = raw.get(path[0])
    if isinstance(section, Mapping) and path[1] in section:
        return f"{prefix}{path[0]}.{path[1]}"
    return next((w for k, v in raw.items() if (w := _find(v, path, f"{prefix}{k}.", depth + 1))), None)
