"""The study's 12 benchmark tasks as it ran them in lighteval (its own task file, lighteval 0.10).

Each spec names the real dataset (Hub repo, subset, evaluation split, few-shot split as lighteval
resolved it), the row filter, and how a row in that dataset's schema becomes a lighteval document.
The same specs score the offline stand-ins (study_offline.py converts them into these schemas) and
the real datasets when the user has them (study_data.py). Task keys are the suite's 12 slots, so a
result table lines up with the `rephraser` definitions whatever data was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rephraser.evaluate.tasks import lighteval_format as fmt
from rephraser.evaluate.tasks.lighteval_format import Prompted

Row = dict[str, Any]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine",
    "college_physics", "computer_security", "conceptual_physics", "econometrics", "electrical_engineering",
    "elementary_mathematics", "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
    "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality",
    "international_law", "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy",
    "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
    "virology", "world_religions",
)


@dataclass(frozen=True)
class StudyTask:
    key: str  # the suite slot (same names as the rephraser definitions)
    category: str
    lighteval: str  # the study's lighteval task id
    repo: str
    subset: str | None
    eval_split: str
    fewshot_split: str | None  # None: lighteval drew the shots from the evaluation split itself
    prompt: Callable[[Row], Prompted | None]
    keep: Callable[[Row], bool] = lambda row: True
    subjects: tuple[str, ...] = field(default=())  # MMLU-Redux: one lighteval task per subject, averaged


def _labelled(question: str, choices: dict, key: str) -> Prompted | None:
    labels = list(choices["label"])
    if key not in labels:
        return None
    return fmt.multichoice(question, list(choices["text"]), labels.index(key))


def _arc(row: Row) -> Prompted | None:
    return _labelled(row["question"], row["choices"], row["answerKey"])


def _mmlu_redux(row: Row) -> Prompted | None:
    # The study keeps questions marked correct and those whose ground truth was fixed by the re-annotation.
    if row.get("error_type") not in ("ok", "wrong_groundtruth"):
        return None
    gold = row["answer"] if row["error_type"] != "wrong_groundtruth" else row.get("correct_answer")
    if gold is None:
        return None
    gold = LETTERS.index(gold) if isinstance(gold, str) and gold in LETTERS else int(gold)
    if not 0 <= gold < len(row["choices"]):
        return None
    return fmt.multichoice(row["question"], list(row["choices"]), gold)


def _squad_answers(row: Row) -> list[str]:
    return [a for a in row["answers"]["text"] if a]


def _drop_answers(row: Row) -> list[str]:
    """The number, the spans and the date (day month year) of the answer, whichever are present."""
    answer = row["answer"]
    date = answer.get("date") or {}
    date_text = " ".join(p for p in (date.get("day"), date.get("month"), date.get("year")) if p)
    return [a for a in [answer.get("number"), *(answer.get("spans") or []), date_text] if a]


def _xcsqa(row: Row) -> Prompted | None:
    return _labelled(row["question"]["stem"], row["question"]["choices"], row["answerKey"])


def _gsm8k(row: Row) -> Prompted:
    return fmt.qa(row["question"], [row["answer"].split("####")[-1].strip()])


def _treb(row: Row) -> Prompted:
    return fmt.qa(row["question"], [row["answer"]], context=row["Table_markdown"][0])


def _wtq(row: Row) -> Prompted:
    return fmt.qa(row["question"], list(row["answers"]), context=row["table_md"])


STUDY_TASKS: dict[str, StudyTask] = {t.key: t for t in (
    StudyTask("arc_easy", "GK", "lighteval|arc_cf:easy|3", "allenai/ai2_arc", "ARC-Easy", "test", "validation", _arc),
    StudyTask("mmlu", "GK", "lighteval|mmlu_redux_cf:_average|3", "edinburgh-dawg/mmlu-redux-2.0", None, "test",
              None, _mmlu_redux, subjects=MMLU_SUBJECTS),
    StudyTask("squad", "RC", "lighteval|squad_v2|3", "lighteval/squad_v2", "default", "validation", "train",
              lambda r: fmt.qa(r["question"], _squad_answers(r), context=r["context"]),
              keep=lambda r: bool(_squad_answers(r))),
    StudyTask("drop", "RC", "lighteval|drop|3", "lighteval/drop_harness", "default", "validation", "train",
              lambda r: fmt.qa(r["question"], _drop_answers(r), context=r["passage"]),
              keep=lambda r: bool(_drop_answers(r))),
    StudyTask("openbookqa", "RES", "lighteval|openbookqa_cf|3", "allenai/openbookqa", "main", "validation", "train",
              lambda r: fmt.multichoice(r["question_stem"], list(r["choices"]["text"]),
                                        LETTERS.index(r["answerKey"]))),
    StudyTask("piqa", "RES", "lighteval|piqa_cf|3", "ybisk/piqa", "plain_text", "validation", "train",
              lambda r: fmt.multichoice(r["goal"], [r["sol1"], r["sol2"]], int(r["label"]))),
    StudyTask("commonsenseqa", "RES", "lighteval|xcsqa_cf|3", "INK-USC/xcsr", "X-CSQA-en", "validation", None,
              _xcsqa, keep=lambda r: all(t.strip() for t in r["question"]["choices"]["text"])),
    StudyTask("hellaswag", "NLU", "lighteval|hellaswag_cf|3", "Rowan/hellaswag", "default", "validation", "train",
              lambda r: fmt.hellaswag(r["ctx_a"], r["ctx_b"], list(r["endings"]), int(r["label"]))),
    StudyTask("winogrande", "NLU", "lighteval|winogrande_cf|3", "allenai/winogrande", "winogrande_xl",
              "validation", "train",
              lambda r: fmt.winogrande(r["sentence"], r["option1"], r["option2"], r["answer"])),
    StudyTask("gsm8k", "MATH", "lighteval|gsm8k|3", "openai/gsm8k", "main", "test", "train", _gsm8k),
    StudyTask("table_qa_lookup", "TABLE", "lighteval|wikitablequestions|3", "lighteval/wikitablequestions",
              "default", "test", "train", _wtq),
    # lighteval resolves "train" as TReB's few-shot split; where the data has none, the test split is used.
    StudyTask("table_qa_reasoning", "TABLE", "lighteval|treb_qa|3", "lighteval/treb_table_retrieval", "default",
              "test", "train", _treb, keep=lambda r: len(r["Table_markdown"]) == 1),
)}
