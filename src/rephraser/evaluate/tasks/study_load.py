"""Load one study task under the `lighteval` definitions: rows -> documents -> sampled items with shots.

Rows come from the offline stand-ins (study_offline.py) unless the user named a source for the task
(study_data.py). A row the task's filter rejects is dropped silently, as in lighteval; a row whose
fields do not fit the schema is skipped and counted in the task note.
"""

from __future__ import annotations

from rephraser.evaluate.tasks import lighteval_select as select
from rephraser.evaluate.tasks.items import Item, LoadedTask, TaskMissing
from rephraser.evaluate.tasks.lighteval_format import Prompted
from rephraser.evaluate.tasks.study import STUDY_TASKS, Row, StudyTask
from rephraser.evaluate.tasks.study_data import Source, read_rows
from rephraser.evaluate.tasks.study_offline import NOTES, offline_splits, offline_subject_splits


def _documents(task: StudyTask, rows: list[Row]) -> tuple[list[Prompted], int]:
    docs, malformed = [], 0
    for row in rows:
        try:
            if not task.keep(row):
                continue
            doc = task.prompt(row)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            malformed += 1
            continue
        if doc is not None:
            docs.append(doc)
    return docs, malformed


def _splits(task: StudyTask, source: Source | None, seed: int, subject: str | None) -> tuple[dict, str]:
    """{"eval": rows, "pool": rows or None} and the note describing where they came from."""
    if source is None:
        splits = offline_subject_splits(task, subject) if subject else offline_splits(task, seed)
        return {"eval": splits[task.eval_split], "pool": splits.get(task.fewshot_split or "")}, NOTES[task.key]
    rows = read_rows(source, task.eval_split, subject)
    pool, shots_from = None, task.eval_split
    if task.fewshot_split:
        try:
            pool, shots_from = read_rows(source, task.fewshot_split, subject), task.fewshot_split
        except TaskMissing:
            shots_from = f"{task.eval_split} (no {task.fewshot_split} split found)"
    return {"eval": rows, "pool": pool}, f"{source.describe()} {task.eval_split}, shots from {shots_from}"


def _one(task: StudyTask, prefix: str, splits: dict, max_items: int, k: int) -> tuple[list[Item], list[str], int]:
    docs, malformed = _documents(task, splits["eval"])
    pool_docs = docs
    if splits["pool"] is not None:
        pool_docs, bad_pool = _documents(task, splits["pool"])
        malformed += bad_pool
    candidates = select.balanced_candidates(pool_docs, k)
    items = [select.to_item(f"{prefix}/{i}", docs[i], select.shots_for(docs[i], candidates, k))
             for i in select.sample(docs, max_items)]
    return items, [c.query + c.target() for c in candidates], malformed


def load_study_task(key: str, max_items: int, seed: int, num_fewshot: int, source: Source | None = None) -> LoadedTask:
    task = STUDY_TASKS[key]
    if not task.subjects:
        splits, note = _splits(task, source, seed, None)
        items, shots, malformed = _one(task, key, splits, max_items, num_fewshot)
        groups = None
    else:  # one lighteval task per subject: max_items each, averaged per subject by the suite
        items, shots, malformed, groups, missing = [], [], 0, {}, []
        for subject in task.subjects:
            try:
                splits, note = _splits(task, source, seed, subject)
            except TaskMissing as e:
                missing.append(f"{subject} ({e})")
                continue
            got, got_shots, bad = _one(task, f"{key}/{subject}", splits, max_items, num_fewshot)
            items += got
            shots += got_shots
            malformed += bad
            groups.update({it.id: subject for it in got})
        if not items:
            raise TaskMissing("no subject could be read: " + "; ".join(missing[:3]))
        note = f"{note}; mean of {len(set(groups.values()))} subject means"
        if missing:
            note += f"; {len(missing)} subjects missing (first: {missing[0]})"
    if malformed:
        note += f"; {malformed} rows that do not fit the schema skipped"
    return LoadedTask(items=items, fewshot_texts=shots, note=note, groups=groups)
