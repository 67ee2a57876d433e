"""The one way a YAML file becomes a validated config, and every validation error as one line.

`load_yaml(path, Model)` reads (local or a URL), parses and validates; `validate(raw, Model)` validates a
mapping already read (CLI flags applied first); `one_line_error` turns pydantic's error list into
`file:line:column: field.path: message`, with the line and a caret under it when the file says where.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rephraser import storage
from rephraser.config.engine import ENGINE_CLASSES
from rephraser.config.legacy import note_moved_keys
from rephraser.config.run import RunConfig
from rephraser.errors import ConfigError
from rephraser.yaml_errors import excerpt, locate, syntax_message


def load_yaml(path: str | Path, model: type[BaseModel] = RunConfig, *, what: str = "config file") -> Any:
    """Load a YAML file (local or a URL, e.g. OUT/config.yaml of a run on s3://) into `model`; every
    problem (missing, unreadable, invalid) is one ConfigError line, with `file:line:column` and the line
    itself under it when the file says where. `what` names the kind of file in messages."""
    raw, text = read_yaml_document(path, what=what)
    return validate(raw, model, origin=str(path), text=text)


def read_yaml_mapping(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """The raw mapping of a YAML file (local or URL), not yet validated (CLI flags are applied to a run
    config first)."""
    return read_yaml_document(path, what=what)[0]


def read_yaml_document(path: str | Path, *, what: str = "config file") -> tuple[dict[str, Any], str]:
    """(mapping, text): the text lets a later validation error point at its line."""
    p = storage.as_location(path)
    try:
        text = storage.read_text(p)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} {p}: {str(e).splitlines()[0]}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        first, _, detail = syntax_message(e, str(p), text).partition("\n")
        raise _with_detail(ConfigError(f"{what} {first}"), detail) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {p} must be a mapping at the top level")
    return raw, text


def validate(raw: dict[str, Any], model: type[BaseModel] = RunConfig, origin: str = "config",
             text: str | None = None, flags: frozenset[str] = frozenset()) -> Any:
    """`text`: the YAML `raw` came from, so the error can name line and column; `flags`: dotted keys set on
    the command line (an error about them is not pointed at the file)."""
    note_moved_keys(raw, origin)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise one_line_error(e, origin, text, flags, model) from None


def _field_names(model: type[BaseModel], path: list[Any]) -> list[str]:
    """The keys allowed at `path` of `model` (for the nearest match of an unknown key)."""
    for before, step in zip([None, *path], path, strict=False):
        if isinstance(step, int):
            continue  # an item of a list or dict of models
        if before == "engine" and step in ENGINE_CLASSES:
            model = ENGINE_CLASSES[str(step)]  # the engine's kind: the class that read it
            continue
        field = model.model_fields.get(str(step))
        if field is None:
            return []
        inner = _model_in(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)


def one_line_error(e: ValidationError, origin: str, text: str | None = None,
                   flags: frozenset[str] = frozenset(), model: type[BaseModel] | None = None) -> ConfigError:
    """The first validation error as `origin[:line:column]: field.path: message (+N more)`, followed by the
    line and a caret when the YAML text is known."""
    first = e.errors()[0]
    tagged = [x for x in first["loc"] if not (isinstance(x, str) and x.startswith("function-"))]
    loc = _without_kinds(tagged)
    where = ".".join(str(x) for x in loc) or "(top level)"
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    if first["type"] == "extra_forbidden" and model is not None and loc:
        hint = _other_kinds(tagged)
        near = difflib.get_close_matches(str(loc[-1]), _field_names(model, tagged[:-1]), n=1, cutoff=0.6)
        more = (hint or (f" (did you mean {near[0]}?)" if near else "")) + more
    from_flag = any(where == f or where.startswith(f + ".") or f.startswith(where + ".") for f in flags)
    pos = locate(text, loc, key=first["type"] == "extra_forbidden") if text and not from_flag else None
    if pos is None:
        return ConfigError(f"{origin}: {where}: {first['msg']}{more}")
    return _with_detail(ConfigError(f"{origin}:{pos[0]}:{pos[1]}: {where}: {first['msg']}{more}"),
                        excerpt(text or "", *pos))


def _with_detail(error: ConfigError, detail: str) -> ConfigError:
    error.detail = detail or None
    return error


def _without_kinds(loc: list[Any]) -> list[Any]:
    """pydantic names the engine class that read a mapping after `engine` (engine.openai.base_url): the
    user wrote engine.base_url."""
    return [x for i, x in enumerate(loc) if not (i and loc[i - 1] == "engine" and x in ENGINE_CLASSES)]


def _other_kinds(loc: list[Any]) -> str:
    """` (a setting of engine.kind X)` for an engine key of another kind than the one given."""
    if len(loc) < 3 or loc[-3] != "engine" or loc[-2] not in ENGINE_CLASSES:
        return ""
    owners = [k for k, cls in ENGINE_CLASSES.items() if str(loc[-1]) in cls.model_fields]
    if not owners:
        return ""
    why = "; a server speculates by its own start flags, docs/engines.md" if loc[-1] == "speculative" else ""
    return f" (a setting of engine.kind {' or '.join(owners)}, not {loc[-2]}{why})"
