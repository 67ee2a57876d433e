"""What refuses a run before it writes anything: a prompt the engine cannot send, an unreadable first
input record, an output folder inside its own source folder."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from rephraser import storage
from rephraser.engines import engine_spec
from rephraser.errors import ConfigError
from rephraser.prompts.spec import PromptSpec

T = TypeVar("T")


def check_request_fields(kind: str, prompts: list[PromptSpec]) -> None:
    """Refuse, before any output, a prompt whose requests the engine cannot send (its spec's request_fields)."""
    supported = engine_spec(kind).request_fields
    for p in prompts:
        if p.mode == "continuation" and "continuation" not in supported:
            raise ConfigError(f"prompt {p.name} is a raw-text continuation, which engine {kind} cannot send; "
                              "use a chat prompt or another engine")


def peek(items: Iterator[T]) -> Iterator[T]:
    """The same stream with its first item already read (so reading errors surface now)."""
    first = list(itertools.islice(items, 1))
    return itertools.chain(first, items)


def check_output_outside_source(source: str | None, out: storage.Location) -> None:
    if source is None or not isinstance(out, Path) or storage.is_remote(source) or not Path(source).is_dir():
        return
    if out.resolve().is_relative_to(Path(source).resolve()):
        raise ConfigError(f"output folder {out} is inside the source folder {source}: a rerun would read its own "
                          "outputs as input; choose an output folder outside the source")
