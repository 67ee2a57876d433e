"""Routing a document: the first route whose condition holds gives its prompts; the default takes the rest.

Facts (numbers, tokens, language, ...) are computed lazily, once per document, and every fact a
decision looked at is kept in `Decision.values`: that is the row's `route_values`, the "why" of its
route. Weighted draws hash (routing seed, route, document id), so routing never depends on input
order, shards or process.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rephraser.engines.tokencount import token_counter
from rephraser.errors import ConfigError
from rephraser.records import Document, dumps_json
from rephraser.route_config import DEFAULT_ROUTE, Condition, RoutePrompts, RoutingConfig
from rephraser.routing.features import count_numbers, detect_language, has_list, has_table

# text hash -> classifier name -> score (routing/scores.py fills it)
Scores = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Decision:
    route: str
    prompts: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)

    def values_json(self) -> str:
        return dumps_json(self.values)


class Router:
    def __init__(self, cfg: RoutingConfig, scores: Scores | None = None):
        self.cfg = cfg
        self.scores: Scores = scores or {}
        self._count_tokens = token_counter(cfg.tokenizer).count if _uses(cfg, "tokens") else None
        self._functions = {path: load_predicate(path) for path in _functions(cfg)}
        self._regexes: dict[str, re.Pattern[str]] = {}

    def decide(self, doc: Document) -> Decision:
        facts = _Facts(self, doc)
        for route in self.cfg.routes:
            if facts.holds(route.when):
                return Decision(route.name, self.pick(route.name, route, doc.id), facts.values)
        return Decision(DEFAULT_ROUTE, self.pick(DEFAULT_ROUTE, self.cfg.default, doc.id), facts.values)

    def pick(self, route: str, spec: RoutePrompts, doc_id: str) -> tuple[str, ...]:
        """`spec.count` prompts drawn by weight without replacement (all of them when count covers them),
        in the order the route lists them."""
        weights = spec.weights()
        if spec.count >= len(weights):
            return tuple(weights)
        seed = hashlib.sha256(f"{self.cfg.seed}\0{route}\0{doc_id}".encode()).digest()
        rng = random.Random(seed)  # bytes seeds are hashed the same way in every process
        key = {p: rng.random() ** (1.0 / w) for p, w in weights.items()}  # Efraimidis-Spirakis
        chosen = set(sorted(weights, key=lambda p: -key[p])[: spec.count])
        return tuple(p for p in weights if p in chosen)

    def regex(self, pattern: str) -> re.Pattern[str]:
        if pattern not in self._regexes:
            self._regexes[pattern] = re.compile(pattern)
        return self._regexes[pattern]


class _Facts:
    """One document's facts, each computed on first use and recorded."""

    def __init__(self, router: Router, doc: Document):
        self.router, self.doc = router, doc
        self.values: dict[str, Any] = {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.values:
            self.values[key] = compute()
        return self.values[key]

    def holds(self, c: Condition) -> bool:
        text, r = self.doc.text, self.router
        if c.numbers is not None and not c.numbers.holds(self.get("numbers", lambda: count_numbers(text))):
            return False
        if c.tokens is not None:
            count = r._count_tokens or (lambda _t: 0)
            if not c.tokens.holds(self.get("tokens", lambda: count(text))):
                return False
        if c.language is not None:
            if "language" not in self.values:
                self.values["language"], self.values["language_share"] = detect_language(text)
            if self.values["language"] not in c.language:
                return False
        if c.has_table is not None and self.get("table", lambda: has_table(text)) != c.has_table:
            return False
        if c.has_list is not None and self.get("list", lambda: has_list(text)) != c.has_list:
            return False
        if c.regex is not None and not self.get(f"regex:{c.regex}", lambda: bool(r.regex(c.regex).search(text))):
            return False
        for name, rng in (c.score or {}).items():
            value = self.get(f"score.{name}", lambda n=name: self._score(n))
            if not rng.holds(value):
                return False
        if c.function is not None:
            fn = r._functions[c.function]
            if not self.get(f"function:{c.function}", lambda: _call(fn, c.function, self.doc)):
                return False
        if c.any is not None and not any(self.holds(sub) for sub in c.any):
            return False
        return c.not_ is None or not self.holds(c.not_)

    def _score(self, name: str) -> float:
        try:
            return float(self.router.scores[self.doc.text_hash][name])
        except KeyError:
            # the scoring pass runs before routing; a document it did not see is a bug, not a user error
            raise RuntimeError(f"no {name} score for document {self.doc.id!r}: the scoring pass did not see it") from None


class RoutingError(Exception):
    """One document could not be routed (a user function raised): that document is rejected, the run goes on."""


def _call(fn: Callable[[Document], Any], path: str, doc: Document) -> Any:
    try:
        return _plain(fn(doc))
    except Exception as e:  # noqa: BLE001 - a user function's bug rejects one document, not the run
        raise RoutingError(f"routing function {path} raised {type(e).__name__}: {e}") from None


def _plain(value: Any) -> Any:
    """A function's answer as a JSON value for the row (numbers and strings kept, anything else as truth)."""
    return value if isinstance(value, (bool, int, float, str)) or value is None else bool(value)


def load_predicate(path: str) -> Callable[[Document], Any]:
    """'package.module:function' -> the function; every failure is one ConfigError line."""
    module, _, name = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ConfigError(f"routing function {path}: cannot import {module} ({e})") from None
    except AttributeError:
        raise ConfigError(f"routing function {path}: {module} has no {name!r}") from None
    if not callable(fn):
        raise ConfigError(f"routing function {path}: {name!r} is not callable")
    return fn


def _conditions(cfg: RoutingConfig) -> list[Condition]:
    out: list[Condition] = []

    def walk(c: Condition) -> None:
        out.append(c)
        for sub in (c.any or []) + ([c.not_] if c.not_ else []):
            walk(sub)

    for r in cfg.routes:
        walk(r.when)
    return out


def _uses(cfg: RoutingConfig, key: str) -> bool:
    return any(getattr(c, key) is not None for c in _conditions(cfg))


def _functions(cfg: RoutingConfig) -> list[str]:
    return sorted({c.function for c in _conditions(cfg) if c.function})
