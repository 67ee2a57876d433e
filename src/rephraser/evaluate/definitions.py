"""Definition profiles: how the 12 benchmark slots are turned into scored requests.

  rephraser  our own offline definitions (evaluate/tasks/olmo_tasks.py, table_qa.py): "Question: ...
             Answer:" layouts, WinoGrande with the option in the context, SQuAD/DROP scored on their
             first gold, items and shots chosen per --seed, no special tokens. The default; earlier
             results stay comparable.
  lighteval  the study's own lighteval 0.10 tasks re-implemented (evaluate/tasks/study*.py,
             lighteval_*.py): lighteval's cloze templates, every gold (max over golds), its item
             sampling and balanced few-shot selection, its request tokenization (the tokenizer's
             default special tokens). Reads the offline stand-ins converted to the real datasets'
             schemas, or the real datasets with --datasets.

Both report the same metrics (evaluate/score.py); `prob_norm_token` is the gold-only maximum the
study's lighteval 0.10 computed and `prob_norm_token_all` the maximum over every choice that lighteval
0.11-0.13 computes. Which of the two feeds macro/micro is chosen by the prob variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rephraser.errors import RephraserError
from rephraser.evaluate.tasks import load_task
from rephraser.evaluate.tasks.items import LoadedTask, TaskMissing
from rephraser.evaluate.tasks.study_load import load_study_task

PROB_VARIANTS = {"gold": "prob_norm_token", "all": "prob_norm_token_all"}


@dataclass(frozen=True)
class Definitions:
    name: str
    tokenization: str  # a TorchCausalScorer convention
    accepts_datasets: bool  # whether the real datasets can be read (--datasets)
    # load(task key, max_items, seed, num_fewshot, source or None) -> LoadedTask (raises TaskMissing)
    load: Callable[..., LoadedTask]


def _rephraser(key: str, max_items: int, seed: int, num_fewshot: int, source=None) -> LoadedTask:
    return load_task(key, max_items, seed, num_fewshot)


def _lighteval(key: str, max_items: int, seed: int, num_fewshot: int, source=None) -> LoadedTask:
    loaded = load_study_task(key, max_items, seed, num_fewshot, source)
    if not loaded.items:
        raise TaskMissing("the data holds no usable items")
    return loaded


DEFINITIONS: dict[str, Definitions] = {
    "rephraser": Definitions("rephraser", "rephraser", False, _rephraser),
    "lighteval": Definitions("lighteval", "lighteval", True, _lighteval),
}


def get_definitions(name: str) -> Definitions:
    if name not in DEFINITIONS:
        raise RephraserError(f"unknown definitions {name!r}; choose from {', '.join(DEFINITIONS)}")
    return DEFINITIONS[name]


def primary_metric(prob_variant: str) -> str:
    if prob_variant not in PROB_VARIANTS:
        raise RephraserError(f"unknown prob_norm_token variant {prob_variant!r}; choose from {', '.join(PROB_VARIANTS)}")
    return PROB_VARIANTS[prob_variant]
