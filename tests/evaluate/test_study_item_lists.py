"""The items the `lighteval` definitions score are the study's: lighteval's shuffle (seed 42) of the whole
evaluation split, cut at max_items, with shots drawn elsewhere — on a fixture in the real datasets' schemas,
and on the offline stand-ins whose evaluation split is the study's own."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rephraser.evaluate.tasks.study import STUDY_TASKS
from rephraser.evaluate.tasks.study_data import Source
from rephraser.evaluate.tasks.study_load import load_study_task
from rephraser.evaluate.tasks.study_offline import POOL_SIZE, STUDY_ITEMS, offline_splits

FIXTURE = Path(__file__).parent / "fixtures" / "study_real"
EVAL_SPLIT = {"hellaswag": "validation", "winogrande": "validation", "gsm8k": "test"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _study_list(task: str, rows: list[dict], n: int) -> list[str]:
    """The queries lighteval 0.10 evaluates: documents in row order, shuffled by Random(42), the first n."""
    docs = [d for d in (STUDY_TASKS[task].prompt(r) for r in rows) if d is not None]
    order = list(range(len(docs)))
    random.Random(42).shuffle(order)
    return [docs[i].query for i in order[:n]]


@pytest.mark.parametrize("task", sorted(EVAL_SPLIT))
def test_real_schema_fixture_gives_the_study_item_list(task: str) -> None:
    rows = _rows(FIXTURE / task / f"{EVAL_SPLIT[task]}.jsonl")
    train = {STUDY_TASKS[task].prompt(r).query for r in _rows(FIXTURE / task / "train.jsonl")}
    for n in (5, 1000):
        items = load_study_task(task, n, 1234, 3, Source("path", str(FIXTURE / task))).items
        assert [it.queries[0] for it in items] == _study_list(task, rows, n)
        for it in items:  # shots come from the few-shot split, never from the evaluated one
            assert len(it.fewshot) == 3 and all(any(s.startswith(q) for q in train) for s in it.fewshot)
    if task == "hellaswag":  # the row with an empty ending is dropped before the shuffle, as lighteval does
        assert len(load_study_task(task, 1000, 1234, 3, Source("path", str(FIXTURE / task))).items) == len(rows) - 1


def test_offline_gsm8k_scores_the_study_items_of_the_whole_test_split(tmp_path: Path) -> None:
    splits = offline_splits(STUDY_TASKS["gsm8k"], 1234)
    test, shots = splits["test"], splits["train"]
    assert len(test) == 1319 and len(shots) == POOL_SIZE  # the whole GSM8K test split stays evaluable
    offline = load_study_task("gsm8k", STUDY_ITEMS, 1234, 3).items
    study = _study_list("gsm8k", test, STUDY_ITEMS)
    assert [it.queries[0] for it in offline] == study
    shot_queries = {STUDY_TASKS["gsm8k"].prompt(r).query for r in shots}
    assert not shot_queries & set(study)  # the 32 shot rows are among the 319 the study's cut leaves out
    # the same rows given as "real" data through --datasets give the same list, item for item
    (tmp_path / "gsm8k").mkdir()
    for name, rows in (("test", test), ("train", shots)):
        (tmp_path / "gsm8k" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    real = load_study_task("gsm8k", STUDY_ITEMS, 1234, 3, Source("path", str(tmp_path / "gsm8k"))).items
    assert [(it.queries, it.fewshot) for it in real] == [(it.queries, it.fewshot) for it in offline]
