"""Which of a run's prompts each input record gets: the runner's loop and the progress bar's total both
ask here, so the bar counts exactly the units the loop will run.

Without routes every document gets every prompt; with routes (cfg.routing) only the prompts of the route
its router decides. A rejected record, or a document a user routing function raised on, gets none (it
becomes one rejected row, not a unit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document, Rejection
from rephraser.routing import Decision, Router, RoutingError


def route_record(router: Router | None, names: Mapping[str, str],
                 item: Document | Rejection) -> Decision | Rejection | None:
    """The router's decision for a document (its prompts as names), a Rejection when a user routing
    function raised on it, None without routes or for a rejected record. names: prompt ref -> name."""
    if router is None or isinstance(item, Rejection):
        return None
    try:
        d = router.decide(item)
    except RoutingError as e:
        return Rejection(id=item.id, reason=str(e), origin=item.origin, text=item.text, metadata=item.metadata)
    return replace(d, prompts=tuple(names[r] for r in d.prompts))  # routes list refs; units use names


def prompts_for(prompts: list[PromptSpec], decision: Decision | None) -> list[PromptSpec]:
    """The run's prompts a document gets, in the run's order: all of them, or its route's."""
    return prompts if decision is None else [p for p in prompts if p.name in decision.prompts]


def count_units(records: Iterable[Document | Rejection], router: Router | None, names: Mapping[str, str],
                prompts: list[PromptSpec]) -> int:
    """Units (document x prompt) the runner's loop makes of `records`."""
    total = 0
    for item in records:
        decision = route_record(router, names, item)
        if isinstance(item, Document) and not isinstance(decision, Rejection):
            total += len(prompts_for(prompts, decision))
    return total
