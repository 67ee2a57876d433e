"""The study's dataset layout beside a run's own: `rephraser run --schema finephrase` / `rephraser export`.

The released FinePhrase dataset keeps the source document in `text`, its `id` and `metadata`, and the model's
answers in `rollout_results`, a list of structs (`text`, `finish_reason`, `usage`). Writing a run's published
rows (data/, the ok rows) in that layout lets a user compare them drop-in with HuggingFaceFW/finephrase: the
same column names, one row per source document with its samples as rollouts. The run's own parts stay the
source of truth (every other command reads them); this is a derived view under `finephrase/<prompt>/`, one file
per data part with the part's name, so writing it again replaces it file by file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rephraser import storage
from rephraser.records import SAMPLING_TYPE, metadata_array, metadata_dict, sampling_dict
from rephraser.run_folder import check_output_folder, list_parts, read_part

FINEPHRASE_DIR = "finephrase"
SCHEMAS = ("rephraser", "finephrase")
USAGE_TYPE = pa.struct([pa.field("prompt_tokens", pa.int64()), pa.field("completion_tokens", pa.int64()),
                        pa.field("total_tokens", pa.int64())])
ROLLOUT_TYPE = pa.struct([
    pa.field("text", pa.string()), pa.field("finish_reason", pa.string()), pa.field("usage", USAGE_TYPE),
    pa.field("sample", pa.int32()), pa.field("sampling", SAMPLING_TYPE),
])
# Lineage the study's layout has no column for: kept in one struct so nothing a row knew is dropped.
LINEAGE_TYPE = pa.struct([pa.field(n, pa.string()) for n in (
    "prompt", "prompt_family", "prompt_version", "prompt_hash", "model", "engine", "rollout", "source_origin")])
COLUMNS = ("id", "text", "metadata", "rollout_results", "lineage")


@dataclass
class Export:
    folder: storage.Location
    files: int = 0
    rows: int = 0  # source documents (one row each)
    rollouts: int = 0  # generations (rows of the run)
    prompts: dict[str, int] = field(default_factory=dict)  # prompt -> documents


def _rollout(r: dict[str, Any]) -> dict[str, Any]:
    pt, ct = r.get("prompt_tokens"), r.get("completion_tokens")
    total = None if pt is None and ct is None else (pt or 0) + (ct or 0)
    return {"text": r.get("generation"), "finish_reason": r.get("finish_reason"),
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": total},
            "sample": r.get("sample"), "sampling": sampling_dict(r.get("sampling")) or None}


def finephrase_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Run rows (dicts) -> one row per document id (first-seen order), its samples as rollout_results."""
    docs: dict[str, dict[str, Any]] = {}
    for r in rows:
        doc = docs.get(r["id"])
        if doc is None:
            doc = docs[r["id"]] = {
                "id": r["id"], "text": r.get("source_text"), "metadata": metadata_dict(r.get("source_metadata")),
                "rollout_results": [], "lineage": {k: r.get(k) for k in LINEAGE_TYPE.names}}
        doc["rollout_results"].append(_rollout(r))
    for doc in docs.values():
        doc["rollout_results"].sort(key=lambda x: x["sample"] or 0)
    values = list(docs.values())
    return pa.table({
        "id": pa.array([d["id"] for d in values], pa.string()),
        "text": pa.array([d["text"] for d in values], pa.string()),
        "metadata": metadata_array([d["metadata"] for d in values]),
        "rollout_results": pa.array([d["rollout_results"] for d in values], pa.list_(ROLLOUT_TYPE)),
        "lineage": pa.array([d["lineage"] for d in values], LINEAGE_TYPE),
    })


def write_finephrase(out_dir: storage.PathLike) -> Export:
    """Write finephrase/<prompt>/<part>.parquet for every committed data part of the run. The samples of one
    document are committed in one part (a unit's rows are written together), so grouping per part keeps them
    in one row."""
    root = check_output_folder(out_dir)
    summary = Export(folder=root / FINEPHRASE_DIR)
    for part in list_parts(root, ("ok",)):
        table = finephrase_table(read_part(part).to_pylist())
        storage.write_table(table, root / FINEPHRASE_DIR / part.prompt / part.name)
        summary.files += 1
        summary.rows += table.num_rows
        summary.rollouts += sum(len(x) for x in table.column("rollout_results").to_pylist())
        summary.prompts[part.prompt] = summary.prompts.get(part.prompt, 0) + table.num_rows
    return summary
