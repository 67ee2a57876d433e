"""The opt-in suite on the study's real datasets, tested with small local copies in the real schemas
(built here with `datasets`; nothing is downloaded): every layout `--datasets` accepts, the study's row
filters and gold rules, and missing data reported with its reason."""

from __future__ import annotations

import json

import pytest

from rephraser.errors import RephraserError
from rephraser.evaluate.suite import run_suite

datasets = pytest.importorskip("datasets")

from rephraser.evaluate.tasks.study_data import Source, resolve_datasets  # noqa: E402
from rephraser.evaluate.tasks.study_load import load_study_task  # noqa: E402

N = 6
TABLE = "| City | Population |\n|---|---|\n| Vinmol | 12,000 |\n| Drevton | 8,500 |"


def mc(i):
    return {"text": [f"right {i}", f"wrong {i}", f"other {i}"], "label": ["A", "B", "C"]}


ROWS = {
    "arc_easy": lambda i, split: {"id": f"{split}{i}", "question": f"Which is right {i}?", "choices": mc(i),
                                  "answerKey": "A"},
    "squad": lambda i, split: {"id": f"s{i}", "title": "T", "context": f"Passage {i} says 12 and twelve.",
                               "question": f"How many {i}?",
                               # v2: unanswerable rows have no answer text and are filtered out
                               "answers": {"text": [] if i == 0 else ["12", "twelve", "12"],
                                           "answer_start": [] if i == 0 else [1, 2, 1]}},
    "drop": lambda i, split: {"section_id": "x", "query_id": f"d{i}", "passage": f"Passage {i}.",
                              "question": f"Who {i}?",
                              "answer": {"number": "3" if i % 2 else "", "spans": [] if i % 2 else ["Ann", "Bo"],
                                         "date": {"day": "", "month": "", "year": ""}},
                              "validated_answers": {"number": [], "spans": [], "date": []}},
    "openbookqa": lambda i, split: {"id": f"o{i}", "question_stem": f"Plants need {i}", "choices": mc(i),
                                    "answerKey": "B"},
    "piqa": lambda i, split: {"goal": f"Open a jar {i}", "sol1": "twist the lid", "sol2": "hit it", "label": 0},
    "commonsenseqa": lambda i, split: {"id": f"x{i}", "lang": "en",
                                       "question": {"stem": f"Where is a rug {i}?", "choices": mc(i)},
                                       "answerKey": "C"},
    "hellaswag": lambda i, split: {"ind": i, "activity_label": "Cooking", "ctx_a": f"A man cooks {i}.",
                                   "ctx_b": "he", "ctx": "", "endings": ["stirs.", "sleeps.", "runs.", "sings."],
                                   "source_id": "s", "split": split, "split_type": "indomain", "label": "0"},
    "winogrande": lambda i, split: {"sentence": f"Ann gave Bo {i} books because _ had many.", "option1": "Ann",
                                    "option2": "Bo", "answer": "1"},
    "gsm8k": lambda i, split: {"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"},
    "table_qa_lookup": lambda i, split: {"id": f"w{i}", "question": f"Population of Vinmol {i}?",
                                         "answers": ["12,000", "12000"], "table_md": TABLE},
    "table_qa_reasoning": lambda i, split: {"question": f"Largest city {i}?", "answer": "Vinmol",
                                            # rows with more than one table are dropped by the study's filter
                                            "Table_markdown": [TABLE] if i else [TABLE, TABLE]},
}
SPLITS = {"arc_easy": ("test", "validation"), "squad": ("validation", "train"), "drop": ("validation", "train"),
          "openbookqa": ("validation", "train"), "commonsenseqa": ("validation",),
          "hellaswag": ("validation", "train"), "winogrande": ("validation", "train"), "gsm8k": ("test", "train"),
          "table_qa_lookup": ("test", "train"), "table_qa_reasoning": ("test",)}


def _dataset(key, split):
    return datasets.Dataset.from_list([ROWS[key](i, split) for i in range(N)])


def _redux(subject):
    kinds = ["ok", "wrong_groundtruth", "bad_question_clarity", "ok", "ok", "ok"]
    return datasets.Dataset.from_list([
        {"question": f"{subject} q{i}", "choices": ["a", "b", "c", "d"], "answer": 0, "error_type": kinds[i],
         "source": "x", "correct_answer": "C" if kinds[i] == "wrong_groundtruth" else None,
         "potential_reason": ""} for i in range(N)], split=datasets.Split.TEST)


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    """One folder per task, in every layout the loader accepts (piqa deliberately absent)."""
    root = tmp_path_factory.mktemp("study_data")
    for key, splits in SPLITS.items():
        target = root / key
        if key in ("squad", "table_qa_lookup"):  # a Hub snapshot: data/<split>-00000-of-00001.parquet
            for split in splits:
                (target / "data").mkdir(parents=True, exist_ok=True)
                _dataset(key, split).to_parquet(str(target / "data" / f"{split}-00000-of-00001.parquet"))
        elif key == "drop":  # plain JSON lines per split
            target.mkdir()
            for split in splits:
                _dataset(key, split).to_json(str(target / f"{split}.jsonl"))
        else:  # datasets.save_to_disk of a DatasetDict
            datasets.DatasetDict({s: _dataset(key, s) for s in splits}).save_to_disk(str(target))
    for subject in ("anatomy", "virology"):  # MMLU-Redux: one saved Dataset per subject, as on the Hub
        _redux(subject).save_to_disk(str(root / "mmlu" / subject))
    return root


class Fixed:
    name = "fixed"

    def score(self, requests):
        return [(-0.5 * len(c), len(c), len(c.encode())) for _, c in requests]


def test_suite_reads_every_layout_and_reports_what_is_missing(real_dir):
    results, details = run_suite(Fixed(), definitions="lighteval", datasets=str(real_dir), max_items=4)
    assert results["config_general"]["datasets"] == str(real_dir)
    assert set(results["tasks_missing"]) == {"piqa"}
    assert "no source named for piqa" in results["tasks_missing"]["piqa"]
    assert len(results["results"]) == 11 and results["categories_missing"] == []
    assert results["results"]["squad"]["n_items"] == 4
    assert results["results"]["table_qa_reasoning"]["n_items"] == 4  # 5 of 6 rows pass the one-table filter
    assert results["results"]["mmlu"]["n_groups"] == 2
    note = results["task_info"]["table_qa_reasoning"]["note"]
    assert "shots from test (no train split found)" in note
    assert "55 subjects missing" in results["task_info"]["mmlu"]["note"]
    assert json.loads(json.dumps(results)) == results


def test_rows_follow_the_study_rules(real_dir):
    redux = load_study_task("mmlu", 10, 0, 3, Source("path", str(real_dir / "mmlu"))).items
    # 6 rows per subject, one with an unclear question dropped; the wrong ground truth corrected to C
    assert len(redux) == 10
    fixed = [it for it in redux if "q1" in it.queries[0]]
    assert fixed and all(it.golds == (2,) for it in fixed)
    squad = load_study_task("squad", 10, 0, 3, Source("path", str(real_dir / "squad"))).items
    assert len(squad) == 5 and all(it.choices == (" 12", " Twelve") and it.golds == (0, 1) for it in squad)
    assert all(len(it.fewshot) == 3 and it.fewshot[0].endswith("Answer: 12") for it in squad)
    drop = load_study_task("drop", 10, 0, 3, Source("path", str(real_dir / "drop"))).items
    assert {it.choices for it in drop} == {(" 3",), (" Ann", " Bo")}
    wtq = load_study_task("table_qa_lookup", 2, 0, 3, Source("path", str(real_dir / "table_qa_lookup"))).items
    assert wtq[0].queries[0].startswith("| City | Population |") and wtq[0].golds == (0, 1)
    xcsqa = load_study_task("commonsenseqa", 3, 0, 3, Source("path", str(real_dir / "commonsenseqa"))).items
    assert all(it.choices[it.gold].startswith(" Other") for it in xcsqa)


def test_a_mapping_file_names_sources_per_task(real_dir, tmp_path):
    spec = tmp_path / "datasets.yaml"
    spec.write_text(f"gsm8k: {real_dir / 'gsm8k'}\nsquad: hub:someone/squad-copy\nhellaswag: hub\n")
    sources = resolve_datasets(str(spec))
    assert sources["gsm8k"] == Source("path", str(real_dir / "gsm8k"))
    assert sources["squad"] == Source("hub", "someone/squad-copy", "default")
    assert sources["hellaswag"] == Source("hub", "Rowan/hellaswag", "default")
    results, _ = run_suite(Fixed(), definitions="lighteval", datasets=str(spec), tasks=["gsm8k", "arc_easy"],
                           max_items=3)
    assert results["results"]["gsm8k"]["n_items"] == 3 and "arc_easy" in results["tasks_missing"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("nosuchtask: x\n")
    with pytest.raises(RephraserError, match="unknown task"):
        resolve_datasets(str(bad))
    with pytest.raises(RephraserError, match="neither"):
        resolve_datasets(str(tmp_path / "absent"))


def test_unreadable_data_is_missing_with_its_reason(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text("{not json\n")
    (tmp_path / "arc_easy").mkdir()
    results, _ = run_suite(Fixed(), definitions="lighteval", datasets=str(tmp_path), tasks=["gsm8k", "arc_easy"],
                           max_items=3)
    assert set(results["tasks_missing"]) == {"gsm8k", "arc_easy"}
    assert "holds no data for split 'test'" in results["tasks_missing"]["arc_easy"]
    assert str(tmp_path / "gsm8k") in results["tasks_missing"]["gsm8k"]
