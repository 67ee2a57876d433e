"""Which config fields change what a run produces: a mark on each field, read to build the fingerprint.

A field is marked `OUTPUT` (it changes the rows: part of the run's fingerprint, its request cache and a
grid's stage key) or `SPEED` (how fast, where or how much: not part of it). `output_unless(v)` is an
output field left out of the fingerprint at `v`: a knob added later whose default is the behaviour from
before it existed, so every run made before keeps its identity. `moved_from(...)` keeps the fingerprint
of a field that moved to another section where it was.

Marks replace a hand-kept list of keys to drop: a class whose field has no mark is refused when the class is
made (`require_marks`), so a new knob cannot slip into or out of the fingerprint unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

_NEVER = object()  # no value leaves an OUTPUT field out


@dataclass(frozen=True)
class Affects:
    output: bool
    unless: Any = _NEVER  # an output field at this value (its JSON form) is left out of the fingerprint
    at: tuple[str, str] | None = None  # (section, key) the fingerprint carries it under, when not its own section


OUTPUT = Affects(output=True)
SPEED = Affects(output=False)


def output_unless(value: Any) -> Affects:
    return Affects(output=True, unless=value)


def moved_from(section: str, key: str) -> Affects:
    return Affects(output=True, at=(section, key))


def mark_of(model: type[BaseModel], name: str) -> Affects | None:
    return next((m for m in model.model_fields[name].metadata if isinstance(m, Affects)), None)


def require_marks(model: type[BaseModel]) -> None:
    unmarked = [name for name in model.model_fields if mark_of(model, name) is None]
    if unmarked:
        raise TypeError(f"{model.__name__}: mark {', '.join(unmarked)} as OUTPUT or SPEED (config/marks.py)")


def outcome(config: BaseModel) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """(the output fields of `config` as JSON values, the ones fingerprinted in another section by place)."""
    dumped = config.model_dump(mode="json")
    own: dict[str, Any] = {}
    elsewhere: dict[tuple[str, str], Any] = {}
    for name in type(config).model_fields:
        mark = mark_of(type(config), name)
        if mark is None or not mark.output or (mark.unless is not _NEVER and dumped[name] == mark.unless):
            continue
        if mark.at is not None:
            elsewhere[mark.at] = dumped[name]
        else:
            own[name] = dumped[name]
    return own, elsewhere
