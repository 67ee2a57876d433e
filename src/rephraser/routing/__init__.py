"""Document routing: which prompts each document gets (route_config.py describes it, this package decides)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rephraser import storage
from rephraser.records import Document
from rephraser.route_config import RoutingConfig
from rephraser.routing.router import Decision, Router, RoutingError
from rephraser.routing.scores import score_documents


def prepare_router(routing: RoutingConfig, records: Callable[[], Iterable[Any]], *, out: storage.PathLike | None,
                   tag: str = "s00000-of-00001", write: bool = True) -> Router:
    """A Router for one shard: when a route reads classifier scores, the scoring pass runs first over the
    shard's documents (`records()` yields them again; rejected records are skipped), reusing cached scores."""
    scores = {}
    if routing.score_names():
        docs = (d for d in records() if isinstance(d, Document))
        scores = score_documents(routing, docs, out=out, tag=tag, write=write)
    return Router(routing, scores)


__all__ = ["Decision", "Router", "RoutingError", "prepare_router"]
