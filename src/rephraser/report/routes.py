"""Counts and outcomes by route for the card and the report of a run with routes (route_config.py).

Read from the rows' `route` column (what each document was actually given), not from the config, so a
folder merged from shards or cleaned afterwards is still described right. Empty for runs without routes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rephraser import storage
from rephraser.report.markdown import num, pct, table
from rephraser.run_folder import iter_rows, read_config


@dataclass
class RouteSummary:
    route: str
    documents: set = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)  # status -> rows
    prompts: Counter = field(default_factory=Counter)  # prompt -> rows

    @property
    def compliance(self) -> float | None:
        judged = self.counts["ok"] + self.counts["rejected"]
        return self.counts["ok"] / judged if judged else None


def route_summaries(out: storage.PathLike) -> dict[str, RouteSummary]:
    routes: dict[str, RouteSummary] = {}
    for part, row in iter_rows(out, ("id", "prompt", "route")):
        name = row.get("route")
        if not name:
            continue
        s = routes.setdefault(name, RouteSummary(name))
        s.documents.add(row["id"])
        s.counts[part.status] += 1
        s.prompts[row.get("prompt") or part.prompt] += 1
    return routes


def routing_conditions(out: storage.PathLike) -> dict[str, str]:
    """route name -> its condition as written in the run's config.yaml (default: "(everything else)")."""
    routing = (read_config(out) or {}).get("routing") or {}
    conds = {r.get("name", "?"): _compact(r.get("when")) for r in routing.get("routes") or []}
    return {**conds, "default": "(everything else)"} if routing else {}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False) if value is not None else ""


def _rows(routes: dict[str, RouteSummary], conds: dict[str, str]) -> list[list[str]]:
    return [[name, conds.get(name, ""), num(len(s.documents)), ", ".join(f"{p} ×{n}" for p, n in s.prompts.most_common()),
             num(s.counts["ok"]), num(s.counts["rejected"]), num(s.counts["failed"]), pct(s.compliance)]
            for name, s in routes.items()]


HEADERS = ["route", "condition", "documents", "prompts given (rows)", "ok", "rejected", "failed", "compliance"]


def card_section(out: storage.PathLike) -> list[str]:
    """The card's `## Routing` section (no lines for a run without routes)."""
    routes = route_summaries(out)
    if not routes:
        return []
    return ["## Routing", "",
            "Documents were not given every prompt: ordered routes chose each document's prompts (the first route "
            "whose condition held; `default` took the rest). Each row's `route` column names its route and "
            "`route_values` the facts that decided it (e.g. its number count or classifier score).", "",
            table(HEADERS, _rows(routes, routing_conditions(out))), ""]


def html_rows(out: storage.PathLike) -> tuple[list[str], list[list[str]]]:
    routes = route_summaries(out)
    return (HEADERS, _rows(routes, routing_conditions(out))) if routes else (HEADERS, [])
