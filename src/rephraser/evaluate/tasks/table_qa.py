"""Generated table question answering: the TABLE category.

The study used WikiTableQuestions and TReB, which are not available offline, so this module builds a
stand-in: deterministic (by seed) markdown tables of invented entities with numeric columns, and
questions of four kinds with a computed gold answer and plausible distractors from the same table:

  lookup   "What is the Area (km²) of Drevmont?"            -> the cell value
  count    "How many cities have a Population above 52,000?" -> an integer
  argmax   "Which product has the lowest Price ($)?"        -> an entity name
  compare  "Which has the higher Goals, A or B?"            -> one of the two names

Task `table_qa_lookup` holds lookup questions; `table_qa_reasoning` holds count/argmax/compare.
Both are cloze: the answer text is the continuation after "Answer:".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rephraser.evaluate.tasks.builders import render_shot
from rephraser.evaluate.tasks.items import Item, LoadedTask

SYLLABLES = ("bar", "dre", "vin", "mol", "ta", "kes", "lor", "nu", "pra", "sil", "gow", "ren", "fa", "zum", "hel", "qua")


@dataclass(frozen=True)
class Domain:
    entity: str  # plural noun used in questions
    singular: str
    key_header: str
    columns: tuple[tuple[str, int, int], ...]  # (header, low, high) for integer columns
    suffixes: tuple[str, ...]


DOMAINS = (
    Domain("cities", "city", "City", (("Population", 5_000, 900_000), ("Area (km²)", 20, 2_000), ("Founded", 1100, 1950)),
           ("ton", "burg", "field", "mont", "haven")),
    Domain("products", "product", "Product", (("Price ($)", 3, 900), ("Stock", 0, 5_000), ("Rating", 1, 100)),
           (" Pro", " Lite", " Max", " One", " Mini")),
    Domain("players", "player", "Player", (("Goals", 0, 60), ("Games", 10, 90), ("Assists", 0, 40)),
           ("sen", "ova", "ez", "ski", "ard")),
)


@dataclass(frozen=True)
class Table:
    domain: Domain
    names: tuple[str, ...]
    values: tuple[tuple[int, ...], ...]  # values[row][column]

    def markdown(self) -> str:
        headers = (self.domain.key_header, *(c[0] for c in self.domain.columns))
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for name, row in zip(self.names, self.values, strict=True):
            lines.append("| " + " | ".join((name, *(f"{v:,}" for v in row))) + " |")
        return "\n".join(lines)

    def column(self, j: int) -> list[int]:
        return [row[j] for row in self.values]


def make_table(rng: random.Random, n_rows: int = 6) -> Table:
    domain = rng.choice(DOMAINS)
    names: list[str] = []
    while len(names) < n_rows:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
        name = stem + rng.choice(domain.suffixes)
        if name not in names:
            names.append(name)
    columns = []
    for _, low, high in domain.columns:
        # Distinct values keep argmax/compare questions free of ties.
        columns.append(rng.sample(range(low, high + 1), n_rows))
    values = tuple(tuple(columns[j][i] for j in range(len(columns))) for i in range(n_rows))
    return Table(domain, tuple(names), values)


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    answer: str
    distractors: tuple[str, ...]


def _number_distractors(rng: random.Random, gold: int, pool: list[int], k: int) -> tuple[str, ...]:
    options = [v for v in dict.fromkeys(pool) if v != gold]
    rng.shuffle(options)
    return tuple(f"{v:,}" for v in options[:k])


def lookup_question(rng: random.Random, t: Table) -> Question:
    i, j = rng.randrange(len(t.names)), rng.randrange(len(t.domain.columns))
    gold = t.values[i][j]
    text = f"What is the {t.domain.columns[j][0]} of {t.names[i]}?"
    return Question("lookup", text, f"{gold:,}", _number_distractors(rng, gold, t.column(j), 3))


def count_question(rng: random.Random, t: Table) -> Question:
    j = rng.randrange(len(t.domain.columns))
    col = sorted(t.column(j))
    threshold = col[rng.randrange(len(col) - 1)]  # some rows above, some not
    gold = sum(v > threshold for v in col)
    text = f"How many {t.domain.entity} have a {t.domain.columns[j][0]} above {threshold:,}?"
    near = [gold + d for d in (-2, -1, 1, 2, 3) if 0 <= gold + d <= len(col)]
    return Question("count", text, str(gold), tuple(str(v) for v in near[:3]))


def argmax_question(rng: random.Random, t: Table) -> Question:
    j = rng.randrange(len(t.domain.columns))
    highest = rng.random() < 0.5
    col = t.column(j)
    best = col.index(max(col) if highest else min(col))
    word = "highest" if highest else "lowest"
    others = [n for k, n in enumerate(t.names) if k != best]
    rng.shuffle(others)
    text = f"Which {t.domain.singular} has the {word} {t.domain.columns[j][0]}?"
    return Question("argmax", text, t.names[best], tuple(others[:3]))


def compare_question(rng: random.Random, t: Table) -> Question:
    j = rng.randrange(len(t.domain.columns))
    a, b = rng.sample(range(len(t.names)), 2)
    more = t.values[a][j] > t.values[b][j]
    text = f"Which has the higher {t.domain.columns[j][0]}, {t.names[a]} or {t.names[b]}?"
    winner, loser = (a, b) if more else (b, a)
    return Question("compare", text, t.names[winner], (t.names[loser],))


KINDS = {"lookup": lookup_question, "count": count_question, "argmax": argmax_question, "compare": compare_question}


def make_item(task: str, index: int, seed: int, kinds: tuple[str, ...]) -> tuple[Item, Table, Question]:
    """Item number `index` of `task`: the same (task, index, seed) always gives the same item."""
    rng = random.Random(f"{task}:{seed}:{index}")
    table = make_table(rng)
    question = KINDS[rng.choice(kinds)](rng, table)
    choices = [question.answer, *question.distractors]
    rng.shuffle(choices)
    query = f"{table.markdown()}\nQuestion: {question.text}\nAnswer:"
    item = Item(f"{task}/{index}", (query,), tuple(" " + c for c in choices), choices.index(question.answer))
    return item, table, question


def _load(task: str, kinds: tuple[str, ...], max_items: int, seed: int, k: int) -> LoadedTask:
    # Shots use indices from a separate negative range, so they never coincide with evaluated items.
    shots = tuple(render_shot(make_item(task, -1 - s, seed, kinds)[0]) for s in range(k))
    items = []
    for i in range(max_items):
        it = make_item(task, i, seed, kinds)[0]
        items.append(Item(it.id, it.queries, it.choices, it.gold, shots))
    note = "generated stand-in for WikiTableQuestions/TReB (not available offline)"
    return LoadedTask(items=items, fewshot_texts=list(shots), note=note)


def table_qa_lookup(max_items: int, seed: int, k: int) -> LoadedTask:
    return _load("table_qa_lookup", ("lookup",), max_items, seed, k)


def table_qa_reasoning(max_items: int, seed: int, k: int) -> LoadedTask:
    return _load("table_qa_reasoning", ("count", "argmax", "compare"), max_items, seed, k)
