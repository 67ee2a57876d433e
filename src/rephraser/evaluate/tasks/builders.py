"""Turn raw rows into cloze Items with few-shot examples drawn from a disjoint pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rephraser.evaluate.tasks.items import Item, LoadedTask
from rephraser.evaluate.tasks.olmo_data import pick_shots, split_pool, subset

Row = dict[str, Any]
POOL_SIZE = 32  # rows held back as few-shot material when a task ships a single split


def qa_query(question: str) -> str:
    return f"Question: {question.strip()}\nAnswer:"


def continuation(text: Any) -> str:
    return " " + str(text).strip()


def render_shot(item: Item) -> str:
    query = item.queries[0] if len(item.queries) == 1 else item.queries[item.gold]
    return query + item.choices[item.gold]


def build_items(
    task: str,
    rows: list[Row],
    make: Callable[[str, Row], Item | None],
    *,
    max_items: int,
    seed: int,
    num_fewshot: int,
    pool_rows: list[Row] | None = None,
    note: str = "",
) -> LoadedTask:
    """`make(id, row)` returns an Item without shots (None = row unusable, counted in the note).

    With `pool_rows` the shots come from that separate split; otherwise POOL_SIZE rows of `rows`
    are held back for shots and never evaluated.
    """
    if pool_rows is None:
        pool_idx, eval_idx = split_pool(len(rows), task, POOL_SIZE)
        pool_rows, eval_rows = [rows[i] for i in pool_idx], rows
    else:
        eval_idx, eval_rows = list(range(len(rows))), rows
    shot_items = [it for r in pool_rows if (it := make(f"{task}/shot", r)) is not None]
    shots = [render_shot(shot_items[i]) for i in pick_shots(list(range(len(shot_items))), num_fewshot, seed, task)]
    chosen = subset(eval_idx, max_items, seed, task)
    items: list[Item] = []
    skipped = 0
    for i in chosen:
        it = make(f"{task}/{i}", eval_rows[i])
        if it is None:
            skipped += 1
            continue
        items.append(Item(it.id, it.queries, it.choices, it.gold, tuple(shots)))
    if skipped:
        note = f"{note}; {skipped} malformed rows skipped".lstrip("; ")
    return LoadedTask(items=items, fewshot_texts=shots, note=note)


def letter_index(labels: list[str], key: str) -> int | None:
    return labels.index(key) if key in labels else None
