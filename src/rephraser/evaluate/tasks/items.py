"""What a benchmark item is, and how a task is described.

Every task is reduced to the same cloze shape: a context (the few-shot examples followed by the
item's own query) and a list of candidate continuations (answer TEXT, not a letter). The model is
asked for the log-probability of each continuation given the context. WinoGrande is the one task
where the context differs per choice (the option is substituted into the sentence and the common
remainder is the continuation), so an item carries one query per choice.

An item may have several correct continuations (`golds`, e.g. every distinct SQuAD answer); `gold`
is the primary one, used as the answer of a few-shot example and for per-item bits per byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

FEWSHOT_SEPARATOR = "\n\n"
CATEGORIES: tuple[str, ...] = ("GK", "RC", "RES", "NLU", "MATH", "TABLE")


@dataclass(frozen=True)
class Item:
    id: str
    queries: tuple[str, ...]  # the item's own prompt: one shared query, or one per choice
    choices: tuple[str, ...]  # continuations, each starting with the separating space
    gold: int
    fewshot: tuple[str, ...] = ()  # rendered solved examples placed before the query
    golds: tuple[int, ...] = ()  # every correct choice; () means just `gold`

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"item {self.id}: no choices")
        if not self.golds:
            object.__setattr__(self, "golds", (self.gold,))
        if self.gold not in self.golds:
            raise ValueError(f"item {self.id}: primary gold {self.gold} is not among golds {self.golds}")
        if not all(0 <= g < len(self.choices) for g in self.golds):
            raise ValueError(f"item {self.id}: gold index out of range in {self.golds}")
        if len(self.queries) not in (1, len(self.choices)):
            raise ValueError(f"item {self.id}: need one query or one per choice")

    def context(self, choice: int) -> str:
        query = self.queries[0] if len(self.queries) == 1 else self.queries[choice]
        return FEWSHOT_SEPARATOR.join((*self.fewshot, query))

    def requests(self) -> list[tuple[str, str]]:
        """(context, continuation) pairs, one per choice, in choice order."""
        return [(self.context(i), c) for i, c in enumerate(self.choices)]

    def text_for_overlap(self) -> str:
        """The item's own question and gold answer (what decontamination looks for)."""
        query = self.queries[0] if len(self.queries) == 1 else self.queries[self.gold]
        return f"{query}{self.choices[self.gold]}"


@dataclass
class LoadedTask:
    items: list[Item]
    fewshot_texts: list[str] = field(default_factory=list)  # the solved examples used as shots
    note: str = ""  # e.g. which dataset variant was used
    # item id -> group (MMLU subject) when the task score is the mean of group means, as lighteval's
    # "_average" over MMLU-Redux subjects; None: the mean over items
    groups: dict[str, str] | None = None


class TaskMissing(Exception):
    """The task's data is not available offline; the message says why."""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    category: str
    description: str
    # loader(max_items, seed, num_fewshot) -> LoadedTask; raises TaskMissing when data is absent
    loader: Callable[[int, int, int], LoadedTask]
