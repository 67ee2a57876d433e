"""Which documents lighteval 0.10 evaluates and which solved examples it puts before them.

Re-implemented from lighteval's definitions so that, given the same rows in the same order, the same
items and few-shot contexts come out:
  items  the evaluation documents are shuffled with `random.Random(42)` and the first `max_samples`
         are kept (`--max-samples 1000` in the study);
  shots  "balanced" selection with seed 0: documents are grouped by their target text, the groups are
         ordered by size (largest first, ties shuffled), and num_fewshot + 1 documents are drawn
         round-robin over the groups; every item then uses the first num_fewshot of them that are
         not the item itself (the pool is the evaluation split when a task has no few-shot split).
  text   each example is its query followed by its target; examples and the item's query are
         joined by a blank line.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from itertools import cycle

from rephraser.evaluate.tasks.items import Item
from rephraser.evaluate.tasks.lighteval_format import Prompted

SAMPLE_SEED = 42  # lighteval shuffles the evaluation documents with this seed before cutting
FEWSHOT_SEED = 0  # the single few-shot seed lighteval uses unless asked for several


def sample(docs: Sequence[Prompted], max_items: int) -> list[int]:
    """Indices of the documents lighteval evaluates, in its order."""
    order = list(range(len(docs)))
    random.Random(SAMPLE_SEED).shuffle(order)
    return order[: min(max_items, len(order))]


def balanced_candidates(pool: Sequence[Prompted], num_fewshot: int, seed: int = FEWSHOT_SEED) -> list[Prompted]:
    """The num_fewshot + 1 candidate examples every item of a task draws its shots from."""
    if num_fewshot <= 0 or not pool:
        return []
    rng = random.Random(seed)
    by_target: dict[str, list[Prompted]] = defaultdict(list)
    for doc in pool:
        by_target[doc.target()].append(doc)
    by_size: dict[int, list[str]] = defaultdict(list)
    for target in sorted(by_target):
        by_size[len(by_target[target])].append(target)
    ordered: list[str] = []
    for size in sorted(by_size, reverse=True):
        targets = by_size[size]
        rng.shuffle(targets)
        ordered.extend(targets)
    picked: list[Prompted] = []
    wanted = min(len(pool), num_fewshot + 1)
    for target in cycle(ordered):
        if len(picked) == wanted or not target:  # lighteval stops at an empty target text
            break
        group = by_target[target]
        if group:
            picked.append(group.pop(rng.randrange(len(group))))
    return picked


def shots_for(doc: Prompted, candidates: Sequence[Prompted], num_fewshot: int) -> tuple[str, ...]:
    return tuple(c.query + c.target() for c in candidates if c != doc)[:num_fewshot]


def to_item(item_id: str, doc: Prompted, shots: tuple[str, ...]) -> Item:
    return Item(item_id, (doc.query,), doc.choices, doc.golds[0], shots, doc.golds)
