"""The study's few-shot truncation (`|3|1` in its lighteval task ids): fewer shots when the context is too long.

The study ran every task as "lighteval|<task>|3|1": 3 shots, and the trailing 1 asks lighteval to drop
shots when an item does not fit the model's context. The intended behaviour: remove solved examples from
the END of the item's few-shot list, one at a time, until the item fits or no shot is left. Here "fits"
means every (context, continuation) request of the item is scored with its whole context inside the
model's window (the scorer's own tokenization decides); a request still too long with no shot left is
cut from the left as before.

lighteval 0.10 itself cannot be used for this: its truncation loop (PromptManager._single_turn_context)
calls get_examples() without the `doc` argument it requires, so any item that needs truncating stops the
run with "get_examples() missing 1 required positional argument: 'doc'" (seen on a small-context proxy).
Its loop also compares the context plus the task's generation size (0 for these cloze tasks) with the
window; for log-likelihood scoring the continuation must fit as well, so it is counted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rephraser.evaluate.tasks.items import Item


def fit_fewshot(items: Sequence[Item], model: Any) -> tuple[list[Item], int]:
    """(items with as many leading shots kept as fit `model.fits(requests)`, number of items that lost shots)."""
    out, cut = [], 0
    for item in items:
        keep = len(item.fewshot)
        while keep > 0 and not model.fits(replace(item, fewshot=item.fewshot[:keep]).requests()):
            keep -= 1
        if keep < len(item.fewshot):
            cut += 1
            item = replace(item, fewshot=item.fewshot[:keep])
        out.append(item)
    return out, cut
