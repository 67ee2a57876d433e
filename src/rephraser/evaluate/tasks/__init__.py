"""The benchmark suite: 12 tasks in 6 categories (the FinePhrase study's protocol), all in cloze form.

`TASKS` maps a task name to its TaskSpec; `load_task(name, ...)` returns a LoadedTask or raises
TaskMissing with the reason the data is unavailable (reported as "missing", never scored 0).
"""

from __future__ import annotations

from rephraser.evaluate.tasks import olmo_tasks, table_qa
from rephraser.evaluate.tasks.items import CATEGORIES, Item, LoadedTask, TaskMissing, TaskSpec

_SPECS = (
    TaskSpec("arc_easy", "GK", "ARC-Easy science questions", olmo_tasks.arc_easy),
    TaskSpec("mmlu", "GK", "MMLU, 57 subjects (original; Redux not shipped)", olmo_tasks.mmlu),
    TaskSpec("squad", "RC", "SQuAD v1.1 extractive answers (v2 not shipped)", olmo_tasks.squad),
    TaskSpec("drop", "RC", "DROP discrete reasoning over paragraphs", olmo_tasks.drop),
    TaskSpec("openbookqa", "RES", "OpenBookQA elementary science", olmo_tasks.openbookqa),
    TaskSpec("piqa", "RES", "PIQA physical commonsense", olmo_tasks.piqa),
    TaskSpec("commonsenseqa", "RES", "CommonsenseQA", olmo_tasks.commonsenseqa),
    TaskSpec("hellaswag", "NLU", "HellaSwag sentence completion", olmo_tasks.hellaswag),
    TaskSpec("winogrande", "NLU", "WinoGrande pronoun resolution (partial scoring)", olmo_tasks.winogrande),
    TaskSpec("gsm8k", "MATH", "GSM8K, probability of the final answer", olmo_tasks.gsm8k),
    TaskSpec("table_qa_lookup", "TABLE", "generated table lookup (stand-in for WikiTableQuestions)",
             table_qa.table_qa_lookup),
    TaskSpec("table_qa_reasoning", "TABLE", "generated table count/argmax/compare (stand-in for TReB)",
             table_qa.table_qa_reasoning),
)
TASKS: dict[str, TaskSpec] = {s.name: s for s in _SPECS}


def load_task(name: str, max_items: int, seed: int = 1234, num_fewshot: int = 3) -> LoadedTask:
    if name not in TASKS:
        raise KeyError(name)
    loaded = TASKS[name].loader(max_items, seed, num_fewshot)
    if not loaded.items:
        raise TaskMissing("the data files hold no usable items")
    return loaded


__all__ = ["CATEGORIES", "TASKS", "Item", "LoadedTask", "TaskMissing", "TaskSpec", "load_task"]
